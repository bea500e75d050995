"""TracIn on a tiny run (the session's small MLP: 4 epoch checkpoints, 300 training images).

The factored last layer is checked against independent formulations: per-example gradients
from autograd summed by hand, and Captum's TracInCP / TracInCPFast. Then the properties a user
relies on: self-influence is the diagonal of train x train influence, top-k is the top of the
full scores, a killed run resumes per checkpoint, and the NPZ feeds the label-issue reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.datasets import load_split
from helpers.errors import UserError
from influence.cache import FactorCache
from influence.run import find_checkpoints, select_checkpoints
from influence.tracin import TracInLastLayer

TRAIN = 48  # training images the exact comparisons use
TEST = torch.arange(6)
TEST_RESULT = "influence_misclassified.npz"  # the default name for that edit set


@pytest.fixture(scope="module")
def run(tiny_model_path, tiny_cifar_root):
    checkpoints = find_checkpoints(tiny_model_path.parent / "checkpoints" / "tiny")
    train = load_split("cifar10", "train", data_root=tiny_cifar_root, download=False)
    test = load_split("cifar10", "test", data_root=tiny_cifar_root, download=False)
    return checkpoints, train, test


def brute_force(checkpoints, train, test, *, bias: bool = True):
    """Raw and normalised TracIn and self-influence from autograd's per-example gradients."""
    def gradients(model, images, labels):
        layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        rows = []
        for image, label in zip(images, labels, strict=True):
            loss = F.cross_entropy(model(image[None]), label[None])
            params = [layer.weight, layer.bias] if bias else [layer.weight]
            rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
        return torch.stack(rows).double()

    raw = normalized = self_raw = 0
    for checkpoint in checkpoints:
        model = checkpoint.load().model
        g_train = gradients(model, train.unit_images(range(TRAIN)), train.labels[:TRAIN])
        g_test = gradients(model, test.unit_images(TEST), test.labels[TEST])
        dot = g_test @ g_train.T
        lr = checkpoint.learning_rate
        raw = raw + lr * dot
        normalized = normalized + lr * dot / torch.outer(g_test.norm(dim=1), g_train.norm(dim=1))
        self_raw = self_raw + lr * (g_train * g_train).sum(1)
    return raw, normalized, self_raw


@pytest.fixture(scope="module")
def exact(run):
    checkpoints, train, test = run
    return brute_force(checkpoints, train, test)


def factored(run, **kwargs):
    checkpoints, train, test = run
    tracin = TracInLastLayer(checkpoints, activation_dtype=kwargs.pop("dtype", torch.float32),
                             **kwargs)
    result = tracin.influence(test.unit_images(TEST), test.labels[TEST], train, range(TRAIN),
                              top_k=5, keep_scores=True)
    return result, tracin.self_influence(train, range(TRAIN))


def test_scores_equal_brute_force_per_example_gradients(run, exact):
    raw, normalized, self_raw = exact
    result, self_result = factored(run)
    torch.testing.assert_close(result.raw, raw, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(result.normalized, normalized, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(self_result.raw, self_raw, rtol=1e-5, atol=1e-8)


def test_float16_cached_activations_agree_within_tolerance(run, exact, tmp_path):
    """The default: the training side's activations are cached as float16."""
    raw, normalized, _ = exact
    result, _ = factored(run, dtype=torch.float16, cache=FactorCache(tmp_path))
    torch.testing.assert_close(result.raw, raw, rtol=2e-3, atol=1e-5)
    torch.testing.assert_close(result.normalized, normalized, rtol=2e-3, atol=1e-5)


def test_equal_captum_on_the_last_layer(run, exact):
    """TracInCP over the last layer (weight and bias) and TracInCPFast (weight only)."""
    from influence.captum_backend import CaptumTracIn

    checkpoints, train, test = run
    raw, normalized, self_raw = exact
    layer = [n for n, m in checkpoints[0].load().model.named_modules()
             if isinstance(m, torch.nn.Linear)][-1]
    captum = CaptumTracIn(checkpoints, layers=[layer], batch_size=16)
    result = captum.influence(test.unit_images(TEST), test.labels[TEST], train, range(TRAIN),
                              keep_scores=True)
    torch.testing.assert_close(result.raw, raw, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(result.normalized, normalized, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(captum.self_influence(train, range(TRAIN)).raw, self_raw,
                               rtol=1e-4, atol=1e-7)
    fast = CaptumTracIn(checkpoints, fast=True, batch_size=16).influence(
        test.unit_images(TEST), test.labels[TEST], train, range(TRAIN), keep_scores=True)
    ours, _ = factored(run, bias=False)
    torch.testing.assert_close(fast.raw, ours.raw, rtol=1e-4, atol=1e-7)


def test_self_influence_is_the_diagonal_of_train_x_train_influence(run):
    checkpoints, train, _ = run
    tracin = TracInLastLayer(checkpoints, activation_dtype=torch.float32)
    both = tracin.influence(train.unit_images(range(20)), train.labels[:20], train, range(20),
                            keep_scores=True)
    torch.testing.assert_close(tracin.self_influence(train, range(20)).raw, both.raw.diagonal())


def test_top_k_is_the_top_of_the_full_scores_strongest_first(run):
    result, _ = factored(run)
    for score, full in (("raw", result.raw), ("normalized", result.normalized)):
        for kind, sign in (("proponents", -1), ("opponents", 1)):
            positions, values = result.top[(score, kind)]
            expected = torch.argsort(sign * full, dim=1, stable=True)[:, :5]
            torch.testing.assert_close(values, full.gather(1, expected))
            assert torch.all(sign * values.diff(dim=1) >= 0)  # strongest first
            assert torch.equal(full.gather(1, positions), values)


def test_a_killed_run_resumes_at_the_checkpoint_it_was_on(run, tmp_path, monkeypatch):
    import influence.tracin as tracin_module

    checkpoints, train, _ = run
    real = tracin_module.compute_factors
    calls = []

    def dies_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tracin_module, "compute_factors", dies_on_the_third)
    cache = FactorCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        TracInLastLayer(checkpoints, cache=cache).self_influence(train)
    assert len(list(tmp_path.glob("factors-*.pt"))) == 2
    assert not list(tmp_path.glob(".*tmp*"))  # nothing half-written
    monkeypatch.setattr(tracin_module, "compute_factors", real)
    resumed = TracInLastLayer(checkpoints, cache=cache)
    result = resumed.self_influence(train)
    assert resumed.timings["cache_hits"] == 2
    assert resumed.timings["forward_images"] == (len(checkpoints) - 2) * len(train)
    straight = TracInLastLayer(checkpoints).self_influence(train)
    torch.testing.assert_close(result.raw, straight.raw)


def test_a_changed_checkpoint_or_label_is_recomputed_not_served_stale(run, tmp_path):
    import shutil
    from dataclasses import replace

    checkpoints, train, _ = run
    folder = tmp_path / "run"
    folder.mkdir()
    for checkpoint in checkpoints[:2]:
        shutil.copy(checkpoint.path, folder / checkpoint.path.name)
    cache = FactorCache(tmp_path / "cache")
    first = TracInLastLayer(find_checkpoints(folder), cache=cache).self_influence(train)
    payload = torch.load(folder / "epoch_002.pt", weights_only=True)
    last = [k for k in payload["model_state"] if k.endswith("weight")][-1]
    payload["model_state"][last] *= 2
    torch.save(payload, folder / "epoch_002.pt")
    changed = TracInLastLayer(find_checkpoints(folder), cache=cache)
    second = changed.self_influence(train)
    assert changed.timings["cache_hits"] == 1 and not torch.allclose(first.raw, second.raw)
    relabelled = replace(train, labels=(train.labels + 1) % train.num_classes)
    again = TracInLastLayer(find_checkpoints(folder), cache=cache)
    again.self_influence(relabelled)
    assert "cache_hits" not in again.timings


def test_checkpoint_selection(run):
    checkpoints, _, _ = run
    epochs = [c.epoch for c in checkpoints]
    assert epochs == [1, 2, 3, 4]
    assert [c.epoch for c in select_checkpoints(checkpoints, "every:2")] == [2, 4]
    assert [c.epoch for c in select_checkpoints(checkpoints, "last:1")] == [4]
    assert [c.epoch for c in select_checkpoints(checkpoints, "1,3")] == [1, 3]
    with pytest.raises(UserError, match="does not have"):
        select_checkpoints(checkpoints, "7")
    with pytest.raises(UserError, match="not one of"):
        select_checkpoints(checkpoints, "every:0")


@pytest.fixture(scope="module")
def outputs(run, tiny_model_path, tiny_cifar_root, visualizer_sets, tmp_path_factory):
    """The scripts run in process on the tiny run: self-influence, an edit set's influence."""
    import compute_tracin_influence

    out = tmp_path_factory.mktemp("tracin")
    common = ["--checkpoint-dir", str(tiny_model_path.parent / "checkpoints" / "tiny"),
              "--data-root", str(tiny_cifar_root), "--cache-dir", str(out / "cache")]
    assert compute_tracin_influence.main([*common, "--compute-self-influence",
                                          "--output", str(out / "self.npz")]) == 0
    edit_set = visualizer_sets / "misclassified_edit_dataset.pt"
    assert compute_tracin_influence.main([*common, "--compute-influence", "--edit-set",
                                          str(edit_set), "--top-k", "6",
                                          "--output", str(out / TEST_RESULT)]) == 0
    return out, edit_set, common


def test_self_influence_npz_feeds_the_label_issue_reader(outputs, run):
    from data_quality.label_issues import read_influence

    out, _, _ = outputs
    _, train, _ = run
    scores, info = read_influence(out / "self.npz", num_images=len(train), dataset="cifar10",
                                  split="train")
    assert info["key"] == "self_influence_normalized" and info["images_scored"] == len(train)
    with np.load(out / "self.npz") as archive:
        assert np.allclose(scores, archive["self_influence_normalized"])
        assert archive["per_checkpoint"].shape == (4, len(train))


def test_outputs_are_not_overwritten_without_force(outputs, capsys):
    import compute_tracin_influence
    from helpers.cli import run_main

    out, _, common = outputs
    before = (out / "self.npz").stat().st_mtime_ns
    code = run_main(compute_tracin_influence.main, [*common, "--compute-self-influence",
                                                    "--output", str(out / "self.npz")])
    assert code == 2 and "--force" in capsys.readouterr().err
    assert (out / "self.npz").stat().st_mtime_ns == before


def test_test_influence_names_each_images_proponents(outputs, run):
    from editset_helpers.io import load_edit_set
    from influence.results import TestInfluenceFile

    out, edit_set, _ = outputs
    result = TestInfluenceFile.read(out / TEST_RESULT)
    loaded = load_edit_set(edit_set)
    assert len(result) == len(loaded)
    entry = result.explain(0)
    assert entry["image_idx"] == loaded.metadata[0]["image_idx"]
    assert len(entry["proponents_raw"]) == 6 and len(entry["opponents_normalized"]) == 6
    _, train, _ = run
    for row in entry["proponents_normalized"]:
        assert row["true_label"] == int(train.labels[row["image_idx"]])
        assert row["true_class"] == train.class_names[row["true_label"]]


def test_the_visualizers_write_their_figures(outputs, tiny_cifar_root, tmp_path):
    import visualize_influence
    import visualize_test_influence

    out, edit_set, _ = outputs
    data = ["--data-root", str(tiny_cifar_root)]
    assert visualize_influence.main([str(out / "self.npz"), *data, "--output-dir",
                                     str(tmp_path / "self")]) == 0
    assert visualize_test_influence.main([str(out / TEST_RESULT), *data, "--edit-set",
                                          str(edit_set), "--max-strips", "4", "--output-dir",
                                          str(tmp_path / "test")]) == 0
    assert len(list((tmp_path / "self").glob("*.png"))) == 7
    assert {p.name for p in (tmp_path / "test").glob("*.png")} == {
        "test_influence_distributions.png", "test_influence_class_heatmap.png",
        "test_influence_opponent_labels.png", "test_influence_strips_raw_0000.png",
        "test_influence_strips_normalized_0000.png"}


def test_the_pdf_report_has_one_page_per_section(outputs, tiny_cifar_root, tmp_path):
    """Text is extractable: the summary names suspects, every figure page its title."""
    from pypdf import PdfReader

    import generate_tracin_report
    from influence.report import TITLES

    out, _, _ = outputs
    pdf = tmp_path / "report.pdf"
    assert generate_tracin_report.main(["--self-influence", str(out / "self.npz"),
                                        "--test-influence", str(out / TEST_RESULT),
                                        "--data-root", str(tiny_cifar_root),
                                        "--output", str(pdf)]) == 0
    text = [page.extract_text() for page in PdfReader(pdf).pages]
    strips = [t for t in text if "Test influence: strips" in t]
    assert len(text) == 2 + len(TITLES) + len(strips) and len(strips) >= 2
    assert "settings" in text[0] and "epoch 1: lr" in text[0]
    assert "Summary and recommendations" in text[1] and "Likely mislabelled" in text[1]
    for title in TITLES.values():
        assert sum(title in page for page in text) == 1, title


def test_the_script_runs_as_a_subprocess(outputs, tmp_path):
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    _, _, common = outputs
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "compute_tracin_influence.py"),
                           *common, "--compute-influence", "--split", "test", "--indices", "0",
                           "5", "--checkpoints", "last:2", "--output", str(tmp_path / "t.npz")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "top 20 proponents and opponents of 2 images" in done.stdout
    assert Path(tmp_path / "t.json").exists()


def test_the_visualizer_shows_an_edit_images_proponents(outputs, visualizer_sets,
                                                        tiny_cifar_root):
    """The edit image's page lists proponents and opponents linking to the training image's
    page, which shows its self-influence and the edit images it explains."""
    import re

    from editset_helpers.web.app import create_app
    from influence.results import TestInfluenceFile

    out, _, _ = outputs
    app = create_app(visualizer_sets, influence_dir=out,
                     review={"data_root": str(tiny_cifar_root)})
    client = app.test_client()
    page = client.get("/image?set=misclassified&index=0").get_data(as_text=True)
    assert 'data-testid="influence"' in page and "Proponents" in page and "Opponents" in page
    first = TestInfluenceFile.read(out / TEST_RESULT).explain(0)["proponents_normalized"][0]
    link = re.search(r'href="(/influence/image\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert f"index={first['image_idx']}" in link
    training = client.get(link)
    assert training.status_code == 200
    text = training.get_data(as_text=True)
    assert 'data-testid="self-influence"' in text and 'data-testid="appearances"' in text
    thumb = re.search(r'src="(/error-review/image.png\?[^"]+)"', text).group(1)
    assert client.get(thumb.replace("&amp;", "&")).status_code == 200
    assert client.get("/image?set=closest&index=0").status_code == 200  # no result: no panel
    assert client.get("/influence/image?dataset=cifar10&split=train&index=x").status_code == 400


def test_the_real_base_run_agrees_with_captum(real_base_model, real_cifar_root):
    """On the real run's last two checkpoints and 16 training images (AlexNet's 4096-wide last
    layer, float16 cache): the factored scores equal Captum's TracInCPFast (no bias term)."""
    from influence.captum_backend import CaptumTracIn

    folder = real_base_model.parent / "checkpoints" / "alexnet_base"
    if not list(folder.glob("epoch_*.pt")):
        pytest.skip(f"the base run's epoch checkpoints are not in {folder} (train.py writes "
                    "them)")
    checkpoints = find_checkpoints(folder, "last:2")
    train = load_split("cifar10", "train", data_root=real_cifar_root, download=False)
    images, labels = train.unit_images(range(100, 104)), train.labels[100:104]
    ours = TracInLastLayer(checkpoints, bias=False).influence(images, labels, train, range(16),
                                                              keep_scores=True)
    captum = CaptumTracIn(checkpoints, fast=True).influence(images, labels, train, range(16),
                                                            keep_scores=True)
    torch.testing.assert_close(ours.raw, captum.raw, rtol=5e-3, atol=1e-6)
