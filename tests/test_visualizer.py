"""The edit-set visualizer through Flask's test client: every route, its errors, its caches.

Sets are generated from the tiny fixtures with the real generator, plus one written by hand
(images, labels and metadata only, no JSON beside it), a corrupt file and a ``.pt`` that is not
an edit set. The "repaired" model is the tiny model with its cat logit raised: it fixes cat
images the base model got wrong and breaks some others, so every verdict can occur.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from editset_helpers.io import EditSet, load_edit_set, save_edit_set
from editset_helpers.web.analysis import analyze
from editset_helpers.web.app import create_app
from editset_helpers.web.models import VERDICTS, verdict
from editset_helpers.web.sets import json_safe
from editset_helpers.web.thumbnails import scale_for
from helpers.errors import NotFoundError, UserError
from helpers.inference import predict_logits
from model_classes.checkpoints import load_checkpoint
from tests.conftest import PROJECT_ROOT

CAT = 3  # the class the stand-in repair favours (tests/conftest.py)


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app(visualizer_sets, tiny_model_path, repaired_model_path):
    return create_app(visualizer_sets, weights=tiny_model_path, repaired=repaired_model_path)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def get_json(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, (url, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json"
    return response.get_json()


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


# ----------------------------------------------------------------------------------- /api/sets


def test_api_sets_lists_every_pt_file_with_count_size_or_error(client, visualizer_sets):
    listing = get_json(client, "/api/sets")
    sets = {s["name"]: s for s in listing["sets"]}
    assert set(sets) == {"class_3_cat", "closest", "misclassified", "handmade", "corrupt",
                         "not_an_edit_set"}
    for name in ("class_3_cat", "closest", "misclassified"):
        path = visualizer_sets / f"{name}_edit_dataset.pt"
        assert sets[name]["images"] == len(load_edit_set(path))
        assert sets[name]["size_bytes"] == path.stat().st_size
        assert sets[name]["error"] is None
    assert sets["handmade"]["images"] == 12
    assert sets["corrupt"]["images"] is None
    assert "not a readable edit set" in sets["corrupt"]["error"]
    assert "expected a dict with 'images'" in sets["not_an_edit_set"]["error"]
    assert listing["models"]["base"]["architecture"] == "small_mlp"
    assert listing["models"]["repaired"] is not None


def test_folder_is_rescanned_so_new_changed_and_removed_files_show(visualizer_sets, tmp_path):
    folder = tmp_path / "sets"
    folder.mkdir()
    shutil.copy(visualizer_sets / "closest_edit_dataset.pt", folder / "first_edit_dataset.pt")
    client = create_app(folder).test_client()
    assert [s["name"] for s in get_json(client, "/api/sets")["sets"]] == ["first"]
    shutil.copy(visualizer_sets / "class_3_cat_edit_dataset.pt", folder / "second_edit_dataset.pt")
    assert get_json(client, "/api/sets/second/summary")["name"] == "second"  # found by rescan
    # rewriting a file under the same name gives a new identity: new counts, not a stale cache
    before = get_json(client, "/api/sets/first/summary")["images"]
    shutil.copy(visualizer_sets / "class_3_cat_edit_dataset.pt", folder / "first_edit_dataset.pt")
    os.utime(folder / "first_edit_dataset.pt", ns=(time.time_ns(), time.time_ns() + 10**9))
    after = get_json(client, "/api/sets/first/summary")["images"]
    assert (before, after) == (len(load_edit_set(visualizer_sets / "closest_edit_dataset.pt")),
                               len(load_edit_set(visualizer_sets / "class_3_cat_edit_dataset.pt")))
    (folder / "second_edit_dataset.pt").unlink()
    assert [s["name"] for s in get_json(client, "/api/sets")["sets"]] == ["first"]
    get_json(client, "/api/sets/second/summary", 404)


def test_empty_folder_shows_how_to_make_a_set(tmp_path):
    client = create_app(tmp_path).test_client()
    assert get_json(client, "/api/sets")["sets"] == []
    page = client.get("/")
    assert page.status_code == 200
    assert "holds no <code>.pt</code> files yet" in page.get_data(as_text=True)


def test_an_empty_set_renders_every_view(tmp_path, tiny_model_path, repaired_model_path):
    save_edit_set(EditSet(torch.zeros(0, 3, 32, 32), torch.zeros(0, dtype=torch.long), []),
                  tmp_path / "empty_edit_dataset.pt")
    client = create_app(tmp_path, weights=tiny_model_path,
                        repaired=repaired_model_path).test_client()
    summary = get_json(client, "/api/sets/empty/summary")
    assert summary["images"] == 0 and summary["models"]["base"]["accuracy"] is None
    assert get_json(client, "/api/sets/empty/images")["total"] == 0
    for url in ("/?set=empty", "/gallery?set=empty", "/api/sets/empty/charts/confusion.png",
                "/api/sets/empty/charts/class_distribution.png"):
        assert client.get(url).status_code == 200, url
    assert "No image matches" in client.get("/gallery?set=empty").get_data(as_text=True)


# ----------------------------------------------------------------------------------- summary


def test_summary_counts_confusions_and_accuracy_match_the_records_and_models(
        client, visualizer_sets, tiny_model_path, repaired_model_path):
    edit_set = load_edit_set(visualizer_sets / "misclassified_edit_dataset.pt")
    summary = get_json(client, "/api/sets/misclassified/summary")
    assert summary["images"] == len(edit_set)
    assert summary["predicted_source"] == "record"
    assert summary["recorded_accuracy"] == 0.0  # a misclassified set, by its own records
    pairs = Counter((m["true_label"], m["predicted_label"]) for m in edit_set.metadata)
    labels = summary["confusion"]["labels"]
    matrix = summary["confusion"]["matrix"]
    assert labels == list(range(10))  # every CIFAR class, not only those present
    assert sum(map(sum, matrix)) == len(edit_set)
    for (t, p), n in pairs.items():
        assert matrix[labels.index(t)][labels.index(p)] == n
    top = summary["top_confusions"]
    assert [(c["true_label"], c["predicted_label"], c["count"]) for c in top] == \
        sorted(((t, p, n) for (t, p), n in pairs.items()), key=lambda x: (-x[2], x[0], x[1]))[:10]
    assert top[0]["true_class"] == edit_set.class_name(top[0]["true_label"])
    assert sum(c["count"] for c in summary["true_class_counts"]) == len(edit_set)
    for role, path in (("base", tiny_model_path), ("repaired", repaired_model_path)):
        predicted = predict_logits(load_checkpoint(path).model, edit_set.images).argmax(1)
        correct = int((predicted == edit_set.labels).sum())
        assert summary["models"][role]["correct"] == correct
        assert summary["models"][role]["accuracy"] == pytest.approx(correct / len(edit_set))
    assert sum(summary["verdicts"].values()) == len(edit_set)
    assert summary["verdicts"]["fixed"] == summary["models"]["repaired"]["correct"]
    assert summary["info"]["type"] == "misclassified"
    assert set(summary["charts"]) == {"class_distribution", "confusion"}


def test_verdict_covers_the_four_cases():
    assert [verdict(1, before, after) for before, after in ((0, 1), (0, 2), (1, 0), (1, 1))] == \
        ["fixed", "still_wrong", "broken", "still_right"]
    assert set(VERDICTS) == {"fixed", "still_wrong", "broken", "still_right"}


# ------------------------------------------------------------------------------------ images


def test_images_api_pages_filters_and_sorts(client, visualizer_sets):
    edit_set = load_edit_set(visualizer_sets / "closest_edit_dataset.pt")
    margins = [m["margin"] for m in edit_set.metadata]
    everything = get_json(client, f"/api/sets/closest/images?per_page={len(edit_set)}")
    assert everything["score_key"] == "margin"
    assert [i["score"] for i in everything["images"]] == margins
    assert [i["metadata"] for i in everything["images"]] == json_safe(edit_set.metadata)

    page2 = get_json(client, "/api/sets/closest/images?per_page=5&page=2")
    assert page2["total"] == len(edit_set) and page2["pages"] == -(-len(edit_set) // 5)
    assert [i["index"] for i in page2["images"]] == [5, 6, 7, 8, 9]

    label = edit_set.metadata[0]["true_label"]
    name = edit_set.metadata[0]["true_class"]
    by_label = get_json(client, f"/api/sets/closest/images?true_class={label}&per_page=100")
    by_name = get_json(client, f"/api/sets/closest/images?true_class={name.upper()}&per_page=100")
    assert by_label == by_name
    assert by_label["total"] == sum(m["true_label"] == label for m in edit_set.metadata)
    assert all(i["true_class"] == name for i in by_label["images"])

    guess = edit_set.metadata[0]["predicted_label"]
    predicted = get_json(client, f"/api/sets/closest/images?predicted_class={guess}&per_page=100")
    assert predicted["total"] == sum(m["predicted_label"] == guess for m in edit_set.metadata)

    low, high = sorted(margins)[3], sorted(margins)[-3]
    ranged = get_json(client, f"/api/sets/closest/images?min_score={low}&max_score={high}"
                              "&per_page=100")
    assert ranged["total"] == sum(low <= m <= high for m in margins)

    descending = get_json(client, "/api/sets/closest/images?sort=-score&per_page=100")
    assert [i["score"] for i in descending["images"]] == sorted(margins, reverse=True)
    assert descending["images"][0]["thumbnail"].startswith("/api/sets/closest/images/")


def test_images_api_fills_missing_predictions_from_the_base_model(client, tiny_model_path,
                                                                   visualizer_sets):
    edit_set = load_edit_set(visualizer_sets / "handmade.pt")
    listing = get_json(client, "/api/sets/handmade/images?per_page=100")
    predicted = predict_logits(load_checkpoint(tiny_model_path).model, edit_set.images).argmax(1)
    assert [i["predicted_label"] for i in listing["images"]] == predicted.tolist()
    assert {i["predicted_source"] for i in listing["images"]} == {"base model"}
    assert listing["score_key"] is None
    # class names: the record's own where it has one, else the data set's list
    data_set_names = load_checkpoint(tiny_model_path).class_names
    for image, record in zip(listing["images"], edit_set.metadata, strict=True):
        assert image["true_class"] == (record.get("true_class")
                                       or data_set_names[record["true_label"]])
    assert any("true_class" not in r for r in edit_set.metadata)  # the fallback was exercised
    summary = get_json(client, "/api/sets/handmade/summary")
    assert summary["predicted_source"] == "base model" and summary["info"] == {}


@pytest.mark.parametrize(("query", "message"), [
    ("page=0", "page must be at least 1"),
    ("per_page=5000", "per_page must be between 1 and 2000"),
    ("per_page=ten", "per_page must be a whole number"),
    ("true_class=unicorn", "true_class='unicorn' is not a class"),
    ("min_score=abc", "min_score must be a number"),
    ("max_score=nan", "max_score must be a finite number"),
    ("sort=colour", "sort must be one of"),
    ("verdict=great", "verdict must be one of"),
    ("true_class=%C2%B2", "true_class must be a whole number"),  # "²".isdigit() is True
    ("predicted_class=%C2%B2", "predicted_class must be a whole number"),
    ("true_class=" + "9" * 5001, "true_class must be a whole number"),
    ("page=" + "9" * 5001, "page must be a whole number"),
])
def test_images_api_rejects_bad_parameters_with_400(client, query, message):
    body = get_json(client, f"/api/sets/closest/images?{query}", 400)
    assert message in body["error"]


def test_gallery_page_answers_a_superscript_class_with_400_not_500(client):
    assert client.get("/gallery?set=closest&predicted_class=%C2%B2").status_code == 400
    assert client.get("/image?set=closest&index=%C2%B2").status_code == 400


def test_api_answers_are_strict_json_with_non_finite_values_named(app):
    with app.app_context():
        text = app.json.dumps({"probability": float("nan"), "ok": [1.0, float("inf")]})
    document = json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in JSON"))
    assert document["probability"] is None and document["ok"] == [1.0, None]
    assert "probability (nan)" in document["non_finite_note"]


def test_score_filters_need_a_set_with_scores(client):
    body = get_json(client, "/api/sets/handmade/images?min_score=0.1", 400)
    assert "carries no score" in body["error"]


def test_single_image_api_gives_both_models_probabilities(client, visualizer_sets):
    edit_set = load_edit_set(visualizer_sets / "misclassified_edit_dataset.pt")
    image = get_json(client, "/api/sets/misclassified/images/2")
    assert image["metadata"] == json_safe(edit_set.metadata[2])
    for role in ("base", "repaired"):
        probabilities = image["probabilities"][role]
        assert len(probabilities) == len(image["probability_classes"]) == 10
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert image[role]["predicted_label"] == max(range(10), key=probabilities.__getitem__)
    assert image["verdict"] == verdict(image["true_label"], image["base"]["predicted_label"],
                                       image["repaired"]["predicted_label"])


def test_thumbnails_are_nearest_neighbour_upscaled_pngs_with_http_caching(client, visualizer_sets):
    edit_set = load_edit_set(visualizer_sets / "closest_edit_dataset.pt")
    thumb_url = get_json(client, "/api/sets/closest/images/4")["thumbnail"]
    response = client.get(thumb_url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert png_size(response.data) == (96, 96)  # 32 px times 3
    assert response.cache_control.immutable  # the URL names the file version
    with Image.open(io.BytesIO(response.data)) as image:
        pixels = torch.from_numpy(np.array(image.convert("RGB")))
    expected = edit_set.images[4].mul(255).round().to(torch.uint8).permute(1, 2, 0)
    assert torch.equal(pixels[::3, ::3].to(torch.uint8), expected)  # exact pixels, no smoothing
    assert torch.equal(pixels[1::3, 2::3].to(torch.uint8), expected)  # each repeated 3x3
    again = client.get(thumb_url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    large = client.get("/api/sets/closest/images/4.png?size=large")
    assert png_size(large.data) == (288, 288) and large.cache_control.no_cache
    get_json(client, "/api/sets/closest/images/4.png?size=huge", 400)


def test_scale_for_brings_the_longest_side_near_the_target():
    assert scale_for(32, 32, "thumb") == 3 and scale_for(32, 32, "large") == 9
    assert scale_for(500, 300, "thumb") == 1
    with pytest.raises(UserError):
        scale_for(32, 32, "poster")


@pytest.mark.parametrize("url", [
    "/api/sets/misclassified/charts/confusion.png",
    "/api/sets/misclassified/charts/class_distribution.png",
    "/api/sets/handmade/charts/class_distribution.png",
    "/api/sets/misclassified/images/0/probabilities.png",
])
def test_charts_are_png(client, url):
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    width, height = png_size(response.data)
    assert width > 300 and height > 200


# ------------------------------------------------------------------------------------- pages


def test_stylesheet_is_served_locally(client):
    response = client.get("/static/visualizer.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert "image-rendering: pixelated" in response.get_data(as_text=True)
    html = client.get("/?set=closest").get_data(as_text=True)
    assert "http://" not in html and "https://" not in html  # offline: nothing fetched


def test_index_redirects_to_the_first_set_keeping_the_choice_in_the_url(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location == "/?set=class_3_cat"
    assert client.get("/gallery").location == "/gallery?set=class_3_cat"


def test_overview_page_shows_stats_charts_confusions_and_broken_files(client):
    html = client.get("/?set=misclassified").get_data(as_text=True)
    summary = get_json(client, "/api/sets/misclassified/summary")
    assert f'data-testid="stat-images">{summary["images"]}<' in html
    assert '<option value="misclassified" selected>' in html  # the switcher shows the choice
    assert "/api/sets/misclassified/charts/confusion.png?v=" in html
    top = summary["top_confusions"][0]
    assert f"true_class={top['true_label']}&amp;predicted_class={top['predicted_label']}" in html
    assert f'data-testid="verdict-fixed">{summary["verdicts"]["fixed"]}<' in html
    assert "corrupt.pt is not a readable edit set" in html
    assert '<option value="corrupt" disabled>' in html


def test_gallery_page_shows_record_class_names_and_scores(client, visualizer_sets):
    edit_set = load_edit_set(visualizer_sets / "closest_edit_dataset.pt")
    html = client.get("/gallery?set=closest&per_page=30").get_data(as_text=True)
    shown = html.count('data-field="true_class"')
    assert shown == min(30, len(edit_set))
    for record in edit_set.metadata[:shown]:
        assert f'data-field="true_class">{record["true_class"]}<' in html
        assert f'data-field="predicted_class">{record["predicted_class"]}<' in html
    assert f"{edit_set.metadata[0]['margin']:.3f}" in html
    assert 'name="min_score"' in html and "Min margin" in html


def test_gallery_keeps_filters_in_pagination_links(client):
    html = client.get("/gallery?set=closest&per_page=5&sort=-score").get_data(as_text=True)
    assert "/gallery?set=closest&amp;page=2&amp;per_page=5&amp;sort=-score" in html


def test_gallery_page_past_the_end_says_so(client):
    html = client.get("/gallery?set=closest&page=99").get_data(as_text=True)
    assert "Page 99 is past the last page (1)" in html


def test_gallery_verdict_filter(client):
    summary = get_json(client, "/api/sets/misclassified/summary")
    html = client.get("/gallery?set=misclassified&verdict=fixed&per_page=600").get_data(
        as_text=True)
    assert html.count('data-field="verdict">fixed<') == summary["verdicts"]["fixed"]


def test_detail_page_shows_image_metadata_probabilities_and_verdict(client):
    image = get_json(client, "/api/sets/misclassified/images/1")
    html = client.get("/image?set=misclassified&index=1").get_data(as_text=True)
    assert f'data-testid="detail-true-class">{image["true_class"]}<' in html
    assert "/api/sets/misclassified/images/1.png?size=large" in html
    assert "/api/sets/misclassified/images/1/probabilities.png" in html
    assert f"<strong>{VERDICTS[image['verdict']]}</strong>" in html
    assert "image 1 of" in html


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("url", [
    "/?set=nope", "/gallery?set=nope", "/image?set=nope&index=0",
    "/image?set=misclassified&index=9999", "/image?set=misclassified&index=-1",
    "/set/../../x", "/?set=../../etc/passwd", "/?set=misclassified_edit_dataset.pt",
])
def test_unknown_pages_are_html_404(client, url):
    response = client.get(url)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Not found" in response.get_data(as_text=True)


@pytest.mark.parametrize("url", [
    "/api/sets/nope/summary", "/api/sets/nope/images", "/api/sets/misclassified/images/9999",
    "/api/sets/misclassified/images/9999.png", "/api/sets/misclassified/charts/pie.png",
    "/api/sets/..%2F..%2Fetc%2Fpasswd/summary", "/api/sets/..%2Fmisclassified/summary",
    "/api/sets/%2E%2E/summary", "/api/nothing",
])
def test_unknown_api_paths_are_json_404(client, url):
    assert get_json(client, url, 404)["status"] == 404


def test_names_never_reach_the_file_system(visualizer_sets, tmp_path):
    """A set one folder up is not reachable, however its name is spelled."""
    inner = tmp_path / "inner"
    inner.mkdir()
    shutil.copy(visualizer_sets / "closest_edit_dataset.pt", tmp_path / "outside_edit_dataset.pt")
    client = create_app(inner).test_client()
    for name in ("../outside", "..%2Foutside", str(tmp_path / "outside"), "outside"):
        assert client.get(f"/?set={name}").status_code == 404
        assert client.get(f"/api/sets/{name}/summary").status_code == 404


def test_unreadable_sets_are_422_with_the_reason(client):
    body = get_json(client, "/api/sets/corrupt/summary", 422)
    assert "corrupt.pt is not a readable edit set" in body["error"]
    page = client.get("/gallery?set=not_an_edit_set")
    assert page.status_code == 422 and "expected a dict" in page.get_data(as_text=True)


def test_image_page_without_index_is_400(client):
    assert client.get("/image?set=closest").status_code == 400
    assert client.get("/image?set=closest&index=two").status_code == 400


# ------------------------------------------------------------------------- without any model


def test_without_models_the_pages_show_records_and_say_why(visualizer_sets):
    client = create_app(visualizer_sets).test_client()
    listing = get_json(client, "/api/sets")
    assert listing["models"] == {"base": None, "repaired": None}
    assert "pass --weights PATH" in listing["note"]
    summary = get_json(client, "/api/sets/misclassified/summary")
    assert summary["models"] == {"base": None, "repaired": None} and summary["verdicts"] is None
    assert summary["predicted_source"] == "record"
    handmade = get_json(client, "/api/sets/handmade/summary")
    assert handmade["predicted_source"] is None and handmade["predicted_known"] == 0
    assert "pass --weights PATH" in client.get("/?set=misclassified").get_data(as_text=True)
    assert "No model is loaded" in client.get("/image?set=closest&index=0").get_data(as_text=True)
    get_json(client, "/api/sets/closest/images/0/probabilities.png", 404)
    assert "verdicts need both models" in get_json(
        client, "/api/sets/closest/images?verdict=fixed", 400)["error"]
    assert client.get("/api/sets/handmade/charts/class_distribution.png").status_code == 200


def test_create_app_rejects_missing_or_wrong_inputs(tmp_path, tiny_model_path):
    with pytest.raises(NotFoundError, match=r"edit-set folder .* not found"):
        create_app(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        create_app(tmp_path / "file")
    with pytest.raises(NotFoundError, match=r"model weights .* not found"):
        create_app(tmp_path, weights=tmp_path / "missing.pth")
    with pytest.raises(UserError, match="--repaired needs the base model"):
        create_app(tmp_path, repaired=tiny_model_path)


def test_decoded_sets_and_predictions_are_cached_per_file_identity(app, client):
    state = app.extensions["edit_set_visualizer"]
    client.get("/api/sets/closest/summary")
    first = state.analysis("closest")
    assert state.analysis("closest") is first  # no second decode or model pass
    loaded = state.catalog.open("closest")
    assert analyze(loaded, state.predictor).outputs["base"] is first.outputs["base"]


# ------------------------------------------------------------------------------------ script


def test_script_errors_are_one_line_with_exit_2(tmp_path, capsys):
    from edit_set_visualizer import main
    from helpers.cli import run_main

    assert run_main(main, ["--edit-sets-dir", str(tmp_path / "nowhere")]) == 2
    assert run_main(main, ["--edit-sets-dir", str(tmp_path),
                           "--weights", str(tmp_path / "none.pth")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 2
    assert "edit-set folder" in errors[0] and "--edit-sets-dir" in errors[0]
    assert "none.pth not found" in errors[1]


def test_script_refuses_a_taken_port_in_one_line(visualizer_sets, tiny_model_path, capsys):
    from edit_set_visualizer import main
    from helpers.cli import run_main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = run_main(main, ["--edit-sets-dir", str(visualizer_sets), "--weights",
                               str(tiny_model_path), "--port", str(port)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert not any("Traceback" in line or "in use by another program" in line for line in err)


def test_a_bug_is_a_500_with_one_line_not_a_traceback(visualizer_sets, monkeypatch):
    app = create_app(visualizer_sets)
    state = app.extensions["edit_set_visualizer"]

    def broken(name):
        raise RuntimeError("boom")

    monkeypatch.setattr(state, "analysis", broken)
    client = app.test_client()
    body = get_json(client, "/api/sets/closest/summary", 500)
    assert body["error"].startswith("internal error (RuntimeError)")
    page = client.get("/?set=closest")
    assert page.status_code == 500 and "the server log has the traceback" in page.get_data(
        as_text=True)


def test_script_serves_the_api(visualizer_sets, tiny_model_path):
    """The real entry point: start on a free port, read the printed URL, fetch /api/sets."""
    import json
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "edit_set_visualizer.py"), "--edit-sets-dir",
         str(visualizer_sets), "--weights", str(tiny_model_path), "--port", "0"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("Edit-set visualizer at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(f"{url}api/sets", timeout=30) as response:
            listing = json.load(response)
        assert len(listing["sets"]) == 6
    finally:
        process.terminate()
        process.wait(timeout=10)
