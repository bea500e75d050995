"""The embedding map: ``/map?name=NAME``, a scatter of an activation set's 2-D embedding.

Everything a point shows comes from the set's own files: coordinates from
``embedding_<layer>.npy``, class name, prediction and confidence from ``metadata.csv`` (never
looked up again), thumbnails drawn from ``images.npy``. Two things come from the visualizer it
is registered in, when there: edit-set membership (an edit set whose records name the same data
set and split, matched by image index) and the repaired model, whose predictions on the stored
images are compared with the recorded ones to mark the points a repair changed.

The page draws with plotly.js's WebGL scatter (``scattergl``), served from the plotly Python
package's own copy of ``plotly.min.js``: no CDN, and 10,000 points stay responsive
(``benchmarks/results/map_page.json``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)

from activations.store import DEFAULT_ROOT, ActivationSet, list_sets
from editset_helpers.web.lru import LRUCache
from editset_helpers.web.thumbnails import SIZES, encode_png, scale_for
from helpers.errors import NotFoundError, UserError
from helpers.inference import predict_logits

log = logging.getLogger(__name__)

EXTENSION = "activation_map"
VISUALIZER = "edit_set_visualizer"  # the visualizer's app.extensions key, when registered there
COLOR_MODES = {"class": "class", "correct": "correct / wrong", "edit_set": "edit-set membership"}

bp = Blueprint("map", __name__)


@dataclass
class MapState:
    """The activation folder and what is costly to rebuild per request."""

    root: Path
    payloads: LRUCache[tuple[str, str, str], dict[str, Any]]
    repaired: LRUCache[tuple[str, str], np.ndarray]
    pngs: LRUCache[tuple[str, int, str], bytes]

    def open(self, name: str) -> ActivationSet:
        if not name:
            raise UserError("the map needs ?name=NAME (an activation set)")
        return ActivationSet.open(name, self.root)


def register_map(app: Flask, activations_dir: str | Path = DEFAULT_ROOT) -> None:
    """Add the map pages to ``app`` (the visualizer, or a bare Flask app in tests)."""
    app.extensions[EXTENSION] = MapState(Path(activations_dir), LRUCache(8), LRUCache(8),
                                         LRUCache(4096))
    app.register_blueprint(bp)


def _state() -> MapState:
    return current_app.extensions[EXTENSION]


def _visualizer() -> Any | None:
    return current_app.extensions.get(VISUALIZER)


# ------------------------------------------------------------------------------------- pages


@bp.get("/map")
def map_page() -> Any:
    state = _state()
    name = request.args.get("name")
    if not name:
        return render_template("map.html", sets=list_sets(state.root), root=state.root,
                               activation_set=None, name=None)
    activation_set = state.open(name)
    layer = _layer(activation_set, request.args.get("layer"))
    return render_template("map.html", sets=list_sets(state.root), root=state.root,
                           activation_set=activation_set, name=name, layer=layer,
                           color_modes=COLOR_MODES,
                           data_url=url_for(".api_map", name=name, layer=layer))


@bp.get("/map/image")
def image_page() -> Any:
    activation_set = _state().open(request.args.get("name", ""))
    position = _position(activation_set, request.args.get("position"))
    row = activation_set.metadata().iloc[position].to_dict()
    repaired = _repaired_predictions(activation_set)
    model_names = activation_set.manifest["model"].get("class_names") or []
    after = None if repaired is None else int(repaired[position])
    return render_template(
        "map_image.html", activation_set=activation_set, name=activation_set.name, row=row,
        position=position, large=url_for(".image_png", name=activation_set.name,
                                         position=position, size="large",
                                         v=activation_set.tag),
        memberships=[m for m in _memberships(activation_set) if position in m["positions"]],
        repaired_prediction=None if after is None else
        (model_names[after] if after < len(model_names) else f"class_{after}"),
        count=len(activation_set.images()))


# --------------------------------------------------------------------------------------- API


@bp.get("/api/map/<name>")
def api_map(name: str) -> Any:
    state = _state()
    activation_set = state.open(name)
    layer = _layer(activation_set, request.args.get("layer"))
    payload = state.payloads.get_or_create((name, layer, activation_set.tag),
                                           lambda: _payload(activation_set, layer))
    memberships = _memberships(activation_set)
    repaired = _repaired_predictions(activation_set)
    recorded = payload["points"]["prediction"]
    extra = {
        "edit_sets": [{"name": m["name"], "positions": sorted(m["positions"])}
                      for m in memberships],
        "repaired": None if repaired is None else {
            "prediction": repaired.tolist(),
            "changed": [int(p) for p in np.flatnonzero(repaired != np.asarray(recorded))]},
    }
    return jsonify(payload | extra)


@bp.get("/api/map/<name>/images/<int:position>.png")
def image_png(name: str, position: int) -> Response:
    state = _state()
    activation_set = state.open(name)
    position = _position(activation_set, str(position))
    size = request.args.get("size", "thumb")
    if size not in SIZES:
        raise UserError(f"size must be one of {', '.join(SIZES)}, got {size!r}")

    def draw() -> bytes:
        image = np.asarray(activation_set.images()[position]).transpose(1, 2, 0)
        return encode_png(image, scale_for(image.shape[0], image.shape[1], size))

    data = state.pngs.get_or_create((activation_set.tag, position, size), draw)
    response = Response(data, mimetype="image/png")
    if request.args.get("v") == activation_set.tag:
        response.cache_control.max_age = 31_536_000
        response.cache_control.immutable = True
    return response


@bp.get("/map/static/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js exactly as the installed plotly package ships it (no network needed)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise NotFoundError(f"{path} is missing; reinstall plotly with `uv sync`")
    return send_file(path, mimetype="text/javascript", max_age=86_400)


# ----------------------------------------------------------------------------------- helpers


def _payload(activation_set: ActivationSet, layer: str) -> dict[str, Any]:
    """Columns for every point, from the set's files only (cached per set version and layer)."""
    start = time.perf_counter()
    coordinates = activation_set.embedding(layer)
    if coordinates is None:
        raise NotFoundError(f"layer {layer!r} of {activation_set.name!r} has no embedding yet; "
                            f"run `uv run python process_embeddings.py --name "
                            f"{activation_set.name} --layer {layer}`")
    rows = activation_set.metadata()
    if len(rows) != len(coordinates):
        raise UserError(f"{activation_set.name}: {len(rows)} metadata rows but "
                        f"{len(coordinates)} embedded points; re-run process_embeddings.py")
    manifest = activation_set.manifest
    name = activation_set.name
    points = {
        "x": np.round(coordinates[:, 0].astype(float), 4).tolist(),
        "y": np.round(coordinates[:, 1].astype(float), 4).tolist(),
        "index": rows["index"].astype(int).tolist(),
        "class_id": rows["class_id"].astype(int).tolist(),
        "class_name": rows["class_name"].astype(str).tolist(),
        "prediction": rows["prediction"].astype(int).tolist(),
        "prediction_name": rows["prediction_name"].astype(str).tolist(),
        "confidence": np.round(rows["confidence"].astype(float), 4).tolist(),
        "correct": rows["correct"].astype(int).tolist(),
    }
    classes = sorted(dict(zip(points["class_id"], points["class_name"], strict=True)).items())
    marker = "999999"  # url_for needs a number; the page swaps in each point's position
    payload = {
        "name": name, "layer": layer, "layers": activation_set.layers,
        "embedded_layers": activation_set.embedded_layers,
        "dataset": manifest["dataset"], "split": manifest["split"],
        "model": {k: manifest["model"].get(k) for k in ("path", "sha256", "architecture")},
        "model_class_names": manifest["model"].get("class_names") or [],
        "embedding": manifest.get("embeddings", {}).get(layer),
        "count": len(rows),
        "classes": [{"id": c, "name": n} for c, n in classes],
        "points": points,
        "thumbnail_url": url_for(".image_png", name=name, position=int(marker), size="thumb",
                                 v=activation_set.tag).replace(marker, "{position}"),
        "page_url": url_for(".image_page", name=name,
                            position=int(marker)).replace(marker, "{position}"),
    }
    log.info("map data for %s/%s: %d points in %.2f s", name, layer, len(rows),
             time.perf_counter() - start)
    return payload


def _memberships(activation_set: ActivationSet) -> list[dict[str, Any]]:
    """Edit sets of the visualizer's folder drawn from the same data set and split."""
    visualizer = _visualizer()
    if visualizer is None:
        return []
    wanted = (activation_set.manifest["dataset"], activation_set.manifest["split"])
    positions_of = {int(i): p for p, i in enumerate(activation_set.metadata()["index"])}
    found = []
    for entry in visualizer.catalog.scan():
        if not entry.ok:
            continue
        try:
            loaded = visualizer.catalog.open(entry.name)
        except UserError:
            continue
        if loaded.edit_set.source_split() != wanted:
            continue
        members = {}
        for row in loaded.rows:
            if row.image_idx is not None and row.image_idx in positions_of:
                members[positions_of[row.image_idx]] = row.position
        found.append({"name": entry.name, "positions": members})
    return found


def _repaired_predictions(activation_set: ActivationSet) -> np.ndarray | None:
    """The visualizer's repaired model on the stored images (None without one)."""
    visualizer = _visualizer()
    repaired = None if visualizer is None else visualizer.models.repaired
    if repaired is None:
        return None

    def run() -> np.ndarray:
        images = torch.from_numpy(np.array(activation_set.images()))  # a writable copy
        logits = predict_logits(repaired.model, images, batch_size=250,
                                progress=f"repaired model on {activation_set.name}")
        return logits.argmax(dim=1).numpy()

    return _state().repaired.get_or_create((activation_set.tag, str(repaired.path)), run)


def _layer(activation_set: ActivationSet, requested: str | None) -> str:
    if requested:
        return activation_set.check_layer(requested)
    embedded = activation_set.embedded_layers
    if not embedded:
        raise NotFoundError(f"activation set {activation_set.name!r} has no embedding yet; run "
                            f"`uv run python process_embeddings.py --name {activation_set.name}`")
    return embedded[0]


def _position(activation_set: ActivationSet, raw: str | None) -> int:
    try:
        position = int(raw if raw is not None else "")
    except ValueError:
        raise UserError(f"position must be a whole number, got {raw!r}") from None
    count = activation_set.manifest.get("num_images", 0)
    if not 0 <= position < count:
        raise NotFoundError(f"activation set {activation_set.name!r} has no image {position}; "
                            f"its images are 0..{count - 1}")
    return position
