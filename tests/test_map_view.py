"""The embedding map (/map): its JSON, its pages, and a real Chromium hovering and clicking.

The activation set is extracted from the tiny CIFAR-format test split with the tiny model, so
the visualizer's edit sets (made from the same split) are matched to map points by index.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import extract_activations
import process_embeddings
from activations.store import ActivationSet
from editset_helpers.io import load_edit_set
from editset_helpers.web.app import create_app
from editset_helpers.web.browser import BrowserUnavailable, chromium
from editset_helpers.web.server import BackgroundServer


@pytest.fixture(scope="module")
def activation_root(tiny_cifar_root, tiny_model_path, tmp_path_factory) -> Path:
    """``tiny`` (100 test images, penultimate layer, embedded), with one class name renamed in
    its metadata.csv: the map must show the file's own names, never look them up again."""
    root = tmp_path_factory.mktemp("activations")
    assert extract_activations.main([
        "--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
        "--num-samples", "100", "--out-dir", str(root), "--name", "tiny"]) == 0
    assert process_embeddings.main(["--name", "tiny", "--out-dir", str(root),
                                    "--n-neighbors", "10"]) == 0
    path = ActivationSet.open("tiny", root).path / "metadata.csv"
    rows = pd.read_csv(path, keep_default_na=False)
    rows.loc[rows["class_name"] == "cat", "class_name"] = "Felis catus (renamed)"
    rows.to_csv(path, index=False)
    return root


@pytest.fixture
def client(visualizer_sets, tiny_model_path, repaired_model_path, activation_root):
    app = create_app(visualizer_sets, weights=tiny_model_path, repaired=repaired_model_path,
                     activations_dir=activation_root)
    return app.test_client()


def test_map_json_carries_each_records_own_class_name_and_memberships(
        client, activation_root, visualizer_sets):
    response = client.get("/api/map/tiny")
    assert response.status_code == 200
    data = response.get_json()
    rows = ActivationSet.open("tiny", activation_root).metadata()
    points = data["points"]
    assert data["count"] == len(points["x"]) == 100 and data["layer"] == "relu2"
    assert points["class_name"] == list(rows["class_name"])
    assert "Felis catus (renamed)" in points["class_name"] and "cat" not in points["class_name"]
    assert points["index"] == list(rows["index"]) and points["confidence"][0] > 0

    # edit sets of the same split, matched by image index
    misclassified = load_edit_set(visualizer_sets / "misclassified_edit_dataset.pt")
    wrong_indices = set(misclassified.image_indices)
    member_sets = {s["name"]: s["positions"] for s in data["edit_sets"]}
    assert "misclassified" in member_sets
    assert member_sets["misclassified"] == [p for p, i in enumerate(points["index"])
                                            if i in wrong_indices]
    assert all(points["correct"][p] == 0 for p in member_sets["misclassified"])

    # the repaired model raises the cat logit: changed points are those now predicted cat
    repaired = data["repaired"]
    assert repaired["changed"] == [p for p, (a, b) in enumerate(
        zip(repaired["prediction"], points["prediction"], strict=True)) if a != b]
    assert repaired["changed"] and all(repaired["prediction"][p] == 3
                                       for p in repaired["changed"])


def test_map_pages_images_and_errors(client):
    page = client.get("/map?name=tiny")
    assert page.status_code == 200 and b"/map/static/plotly.min.js" in page.data
    assert b"cdn" not in page.data.lower()
    script = client.get("/map/static/plotly.min.js")
    assert script.status_code == 200 and b"plotly.js" in script.data[:200]
    assert client.get("/map").status_code == 200
    png = client.get("/api/map/tiny/images/3.png?size=thumb")
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"
    detail = client.get("/map/image?name=tiny&position=3")
    assert detail.status_code == 200 and b"data-testid=\"detail-class\"" in detail.data
    assert client.get("/map?name=absent").status_code == 404
    assert client.get("/map?name=../etc").status_code == 400
    assert client.get("/api/map/tiny?layer=fc9").status_code == 404
    assert client.get("/map/image?name=tiny&position=100").status_code == 404


@pytest.fixture(scope="module")
def browser():
    try:
        with chromium() as launched:
            yield launched
    except BrowserUnavailable as error:
        pytest.skip(f"no headless browser: {error}")


def test_hover_a_point_then_click_it_to_open_its_image(browser, visualizer_sets,
                                                       tiny_model_path, repaired_model_path,
                                                       activation_root, tmp_path):
    app = create_app(visualizer_sets, weights=tiny_model_path, repaired=repaired_model_path,
                     activations_dir=activation_root)
    rows = ActivationSet.open("tiny", activation_root).metadata()
    target = int(rows.index[rows["class_name"] == "Felis catus (renamed)"][0])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    with BackgroundServer(app) as url:
        page.goto(f"{url}map?name=tiny")
        page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
        assert page.evaluate("document.querySelector('#plot .gl-container canvas') !== null")
        where = page.evaluate(f"window.mapApp.pointClientXY({target})")
        page.mouse.move(where["x"] + 30, where["y"] + 30)
        page.mouse.move(where["x"], where["y"], steps=5)
        page.wait_for_function("!document.getElementById('hover-card').hidden")
        shown = int(page.get_attribute("#hover-card", "data-position"))
        # a neighbour may sit on the very same pixel: the card must describe whichever it is
        assert page.inner_text("[data-testid=hover-class]") == rows["class_name"][shown]
        assert page.inner_text("[data-testid=hover-prediction]") == \
            rows["prediction_name"][shown]
        page.wait_for_function("document.getElementById('hover-thumb').naturalWidth > 0")
        page.screenshot(path=tmp_path / "map.png")

        page.select_option("[data-testid=color-mode]", "correct")
        page.wait_for_function("document.getElementById('plot').dataset.mode === 'correct'")
        assert "correct (" in page.inner_text("[data-testid=legend]")

        page.mouse.click(where["x"], where["y"])
        page.wait_for_url(re.compile(re.escape(f"{url}map/image?name=tiny&position=") + r"\d+$"))
        opened = int(page.url.rsplit("=", 1)[1])
        # Recolouring redraws the traces, so a point sharing the pixel may now be on top:
        # the click must open a point under the cursor, and its page must describe that point.
        page.go_back()
        page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=60_000)
        at = page.evaluate(f"window.mapApp.pointClientXY({opened})")
        assert abs(at["x"] - where["x"]) <= 3 and abs(at["y"] - where["y"]) <= 3, (opened, shown)
        page.go_forward()
        page.wait_for_url(f"{url}map/image?name=tiny&position={opened}")
        assert page.inner_text("[data-testid=detail-class]") == rows["class_name"][opened]
        assert page.inner_text("[data-testid=detail-index]") == str(rows["index"][opened])
        assert page.eval_on_selector("[data-testid=detail-image]", "e => e.naturalWidth") > 200
    assert (tmp_path / "map.png").stat().st_size > 10_000
