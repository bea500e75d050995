// The embedding map: one WebGL scatter trace whose colours change with the colour mode, plus a
// ring trace over points a repair changed. Hover fills the side card (thumbnail, class name,
// prediction, confidence, all from the set's metadata.csv); click opens the image page.
(function () {
  "use strict";
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];
  const RIGHT = "#2b8a3e", WRONG = "#d6336c", MEMBER = "#e8590c", OTHER = "#ced4da";
  const plot = document.getElementById("plot");
  const status = document.getElementById("status");
  const modeSelect = document.getElementById("color-mode");
  const setSelect = document.getElementById("edit-set");
  const setLabel = document.getElementById("edit-set-label");
  const legend = document.getElementById("legend");
  const timings = { start: performance.now() };
  window.mapTimings = timings;
  let data = null;

  function classColor(rank, count) {
    if (count <= 10) return TAB10[rank];
    const hue = (rank * 137.508) % 360;  // golden-angle hues stay distinct for many classes
    return `hsl(${hue.toFixed(1)}, 65%, ${45 + (rank % 3) * 8}%)`;
  }

  function colours(mode) {
    const p = data.points, n = data.count;
    const out = new Array(n);
    const items = [];
    if (mode === "correct") {
      for (let i = 0; i < n; i++) out[i] = p.correct[i] ? RIGHT : WRONG;
      const right = p.correct.reduce((a, b) => a + b, 0);
      items.push([RIGHT, `correct (${right})`], [WRONG, `wrong (${n - right})`]);
    } else if (mode === "edit_set") {
      const chosen = data.edit_sets.find(s => s.name === setSelect.value);
      const members = new Set(chosen ? chosen.positions : []);
      for (let i = 0; i < n; i++) out[i] = members.has(i) ? MEMBER : OTHER;
      items.push([MEMBER, `in ${chosen ? chosen.name : "no set"} (${members.size})`],
                 [OTHER, `not in it (${n - members.size})`]);
    } else {
      const rank = new Map(data.classes.map((c, r) => [c.id, r]));
      for (let i = 0; i < n; i++) out[i] = classColor(rank.get(p.class_id[i]), data.classes.length);
      data.classes.forEach((c, r) => items.push([classColor(r, data.classes.length), c.name]));
    }
    return { colors: out, items };
  }

  function drawLegend(items) {
    legend.replaceChildren(...items.map(([colour, text]) => {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour;
      li.append(swatch, document.createTextNode(text));
      return li;
    }));
    if (data.repaired) {
      const li = document.createElement("li");
      const ring = document.createElement("span");
      ring.className = "ring";
      li.append(ring, document.createTextNode(
        `prediction changed by the repair (${data.repaired.changed.length})`));
      legend.append(li);
    }
  }

  function recolour() {
    const t0 = performance.now();
    const mode = modeSelect.value;
    setLabel.hidden = mode !== "edit_set";
    const { colors, items } = colours(mode);
    drawLegend(items);
    return Plotly.restyle(plot, { "marker.color": [colors] }, [0]).then(() => {
      timings.lastRecolourMs = performance.now() - t0;
      plot.dataset.mode = mode;
    });
  }

  function traces() {
    const p = data.points;
    const { colors, items } = colours(modeSelect.value);
    drawLegend(items);
    const all = [{
      type: "scattergl", mode: "markers", x: p.x, y: p.y,
      customdata: p.x.map((_, i) => i), hoverinfo: "none",
      marker: { color: colors, size: data.count > 5000 ? 4 : 6, opacity: 0.85 },
      name: "images",
    }];
    if (data.repaired) {
      const changed = data.repaired.changed;
      all.push({
        type: "scattergl", mode: "markers", x: changed.map(i => p.x[i]),
        y: changed.map(i => p.y[i]), customdata: changed, hoverinfo: "none",
        marker: { symbol: "circle-open", color: "#111", size: 11, line: { width: 2 } },
        name: "changed by repair",
      });
    }
    return all;
  }

  function showCard(position) {
    const p = data.points;
    document.getElementById("hover-thumb").src =
      data.thumbnail_url.replace("{position}", position);
    document.getElementById("hover-thumb").alt = `image ${p.index[position]}, ${p.class_name[position]}`;
    document.getElementById("hover-class").textContent = p.class_name[position];
    const predicted = document.getElementById("hover-prediction");
    predicted.textContent = p.prediction_name[position];
    predicted.className = p.correct[position] ? "right" : "wrong";
    document.getElementById("hover-confidence").textContent =
      (100 * p.confidence[position]).toFixed(1) + "%";
    document.getElementById("hover-index").textContent =
      `${data.dataset} ${data.split} ${p.index[position]}`;
    const repaired = data.repaired;
    for (const id of ["hover-repaired", "hover-repaired-label"]) {
      document.getElementById(id).hidden = !repaired;
    }
    if (repaired) {
      const after = repaired.prediction[position];
      const names = (data.model_class_names || []);
      document.getElementById("hover-repaired").textContent =
        (names[after] || `class ${after}`) + (after !== p.prediction[position] ? " (changed)" : "");
    }
    document.getElementById("hover-card").hidden = false;
    document.getElementById("hover-help").hidden = true;
    document.getElementById("hover-card").dataset.position = position;
  }

  // Client coordinates of a point: lets tests and the benchmark hover a known point.
  function pointClientXY(position) {
    const layout = plot._fullLayout, box = plot.getBoundingClientRect();
    return {
      x: box.left + layout._size.l + layout.xaxis.l2p(data.points.x[position]),
      y: box.top + layout._size.t + layout.yaxis.l2p(data.points.y[position]),
    };
  }

  async function start() {
    const response = await fetch(plot.dataset.url);
    const body = await response.json();
    if (!response.ok) {
      status.textContent = body.error || `error ${response.status}`;
      status.className = "warning";
      return;
    }
    data = body;
    timings.fetchedMs = performance.now() - timings.start;
    setSelect.replaceChildren(...data.edit_sets.map(s => new Option(
      `${s.name} (${s.positions.length} here)`, s.name)));
    const editOption = modeSelect.querySelector("option[value=edit_set]");
    if (!data.edit_sets.length) editOption.disabled = true;
    const layout = {
      margin: { l: 40, r: 10, t: 10, b: 35 }, dragmode: "zoom", showlegend: false,
      hovermode: "closest", xaxis: { title: "UMAP 1", zeroline: false },
      yaxis: { title: "UMAP 2", zeroline: false }, uirevision: "keep",
    };
    await Plotly.newPlot(plot, traces(), layout, { responsive: true, displaylogo: false });
    timings.plottedMs = performance.now() - timings.start;
    plot.on("plotly_hover", event => showCard(event.points[0].customdata));
    plot.on("plotly_click", event => {
      window.location.href = data.page_url.replace("{position}", event.points[0].customdata);
    });
    modeSelect.addEventListener("change", recolour);
    setSelect.addEventListener("change", recolour);
    status.textContent = `${data.count} points` + (data.repaired
      ? `; ${data.repaired.changed.length} changed by the repair` : "");
    window.mapApp = { data, pointClientXY, recolour, showCard };
    document.body.dataset.mapReady = "1";
  }

  start().catch(error => {
    status.textContent = `the map failed to load: ${error}`;
    status.className = "warning";
  });
})();
