"""``generate_specialized_repairsets.py`` end to end on the tiny trained model.

Expected selections are recomputed here from the model's probabilities with the rules written
out plainly, not by calling the selector under test.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from editset_helpers.generation import Source
from editset_helpers.io import load_edit_set
from generate_specialized_repairsets import main
from helpers.cli import run_main
from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "generate_specialized_repairsets.py"


@pytest.fixture(scope="module")
def probabilities(tiny_model_path, tiny_cifar_root):
    """(labels, probabilities) of the tiny model on the tiny test split."""
    source = Source.load(tiny_model_path, data_root=tiny_cifar_root)
    return source.predictions.labels, source.predictions.probabilities


@pytest.fixture
def common(tiny_model_path, tiny_cifar_root, tmp_path):
    return ["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
            "--output-dir", str(tmp_path / "sets")]


def run(argv, capsys):
    code = run_main(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def expected_confident_wrong(labels, probs, threshold):
    confidence, predicted = probs.max(dim=1)
    rows = [(-float(confidence[i]), i) for i in range(len(labels))
            if predicted[i] != labels[i] and confidence[i] >= threshold]
    return [i for _, i in sorted(rows)]


def expected_closest(labels, probs, min_true_prob, max_margin):
    rows = []
    for i in range(len(labels)):
        predicted, true = int(probs[i].argmax()), int(labels[i])
        margin = float(probs[i, predicted] - probs[i, true])
        if predicted != true and probs[i, true] >= min_true_prob and margin <= max_margin:
            rows.append((margin, i))
    return [i for _, i in sorted(rows)]


def test_confident_wrong_keeps_the_most_confident(probabilities, common, tmp_path, capsys):
    labels, probs = probabilities
    expected = expected_confident_wrong(labels, probs, 0.3)
    assert len(expected) > 3, "the tiny model should be confidently wrong on a few images"
    code, out, err = run(["confident_wrong", "0.3", "3", *common], capsys)
    assert code == 0, err
    pt_path = tmp_path / "sets" / "confident_wrong_0.30_edit_dataset.pt"
    assert (tmp_path / "sets" / "confident_wrong_0.30_edit_metadata.json").exists()
    edit_set = load_edit_set(pt_path)
    assert [m["image_idx"] for m in edit_set.metadata] == expected[:3]
    assert edit_set.labels.tolist() == labels[expected[:3]].tolist()
    for record in edit_set.metadata:
        i = record["image_idx"]
        assert record["confidence"] == float(probs[i].max())
        assert record["predicted_label"] == int(probs[i].argmax()) != record["true_label"]
        assert record["type"] == "confident_wrong"
    assert f"{len(expected)} images are wrong with confidence >= 0.3; kept 3" in out
    assert str(pt_path) in out


def test_closest_defaults_select_exactly_the_rule(probabilities, common, tmp_path, capsys):
    labels, probs = probabilities
    expected = expected_closest(labels, probs, 0.1, 0.3)
    assert expected, "the tiny model should be almost right on some images"
    code, _, err = run(["closest", *common], capsys)
    assert code == 0, err
    edit_set = load_edit_set(tmp_path / "sets" / "closest_0.10_0.30_edit_dataset.pt")
    assert [m["image_idx"] for m in edit_set.metadata] == expected
    margins = [m["margin"] for m in edit_set.metadata]
    assert margins == sorted(margins)
    for record in edit_set.metadata:
        assert record["true_probability"] >= 0.1 and record["margin"] <= 0.3
        assert record["margin"] == record["predicted_probability"] - record["true_probability"]


def test_both_writes_each_kind_with_defaults_and_says_when_one_is_empty(
        probabilities, common, tmp_path, capsys):
    labels, probs = probabilities
    confident = expected_confident_wrong(labels, probs, 0.8)
    closest = expected_closest(labels, probs, 0.1, 0.3)
    code, out, err = run(["both", "4", *common], capsys)
    assert code == 0, err
    sets = tmp_path / "sets"
    for name, expected in (("confident_wrong_0.80", confident), ("closest_0.10_0.30", closest)):
        pt_path = sets / f"{name}_edit_dataset.pt"
        if expected:
            assert [m["image_idx"] for m in load_edit_set(pt_path).metadata] == expected[:4]
        else:
            assert not pt_path.exists()
            assert f"{name}: 0 images" in out and "nothing written" in out


def test_an_empty_selection_exits_0_and_writes_nothing(common, tmp_path, capsys):
    code, out, _ = run(["closest", "0.75", "0.3", *common], capsys)  # p(true) > 0.5: never wrong
    assert code == 0
    assert "no image qualifies: nothing written" in out
    assert not (tmp_path / "sets").exists() or not any((tmp_path / "sets").iterdir())


def test_dry_run_counts_and_writes_nothing(probabilities, common, tmp_path, capsys):
    labels, probs = probabilities
    code, out, _ = run(["closest", "0.2", "0.2", "--dry-run", *common], capsys)
    assert code == 0
    count = len(expected_closest(labels, probs, 0.2, 0.2))
    assert f"closest_0.20_0.20: {count} images are" in out and "dry run" in out
    assert not (tmp_path / "sets").exists()


def test_existing_set_needs_force(common, capsys):
    assert run(["closest", "0.1", "0.3", "2", *common], capsys)[0] == 0
    code, _, err = run(["closest", "0.1", "0.3", "2", *common], capsys)
    assert code == 2 and "already exists; pass --force" in err
    assert run(["closest", "0.1", "0.3", "2", "--force", *common], capsys)[0] == 0


def test_class_balanced_options(probabilities, common, tmp_path, capsys):
    code, out, err = run(["closest", "0", "1", "--per-class", "1", "--num-classes", "4", *common],
                         capsys)
    assert code == 0, err
    edit_set = load_edit_set(tmp_path / "sets" / "closest_0.00_1.00_edit_dataset.pt")
    labels = edit_set.labels.tolist()
    assert len(labels) == len(set(labels)) and set(labels) <= {0, 1, 2, 3}
    assert "balanced:" in out
    # Within each class the kept image is the one with the smallest margin.
    all_labels, probs = probabilities
    for record in edit_set.metadata:
        same_class = [i for i in expected_closest(all_labels, probs, 0.0, 1.0)
                      if all_labels[i] == record["true_label"]]
        assert record["image_idx"] == same_class[0]


@pytest.mark.parametrize("argv", [
    ["confident_wrong", "abc"],
    ["confident_wrong", "0"],
    ["confident_wrong", "1.5"],
    ["confident_wrong", "nan"],
    ["confident_wrong", "0.8", "0"],
    ["confident_wrong", "0.8", "-5"],
    ["confident_wrong", "0.8", "2.5"],
    ["closest", "0.1", "-0.2"],
    ["closest", "-0.1"],
    ["closest", "0.1", "0.3", "many"],
    ["both", "0"],
    ["confident_wrong", "--num-classes", "3"],
    ["confident_wrong", "--per-class", "0"],
    ["confident_wrong", "--per-class", "1", "--num-classes", "3", "--target-classes", "1"],
    ["confident_wrong", "--no-such-flag"],
    ["frobnicate"],
    [],
])
def test_bad_input_is_one_line_and_exit_2(argv, common, tmp_path, capsys):
    code, out, err = run([*argv, *common] if argv else argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "sets").exists()


def test_missing_weights_is_a_user_error(tiny_cifar_root, tmp_path, capsys):
    code, _, err = run(["confident_wrong", "--weights", str(tmp_path / "none.pth"),
                        "--data-root", str(tiny_cifar_root), "--output-dir",
                        str(tmp_path / "sets")], capsys)
    assert code == 2 and err.startswith("error: model weights") and err.count("\n") == 1


def test_runs_as_a_script(tiny_model_path, tiny_cifar_root, tmp_path):
    env = {**os.environ, "ALEXNET_REPAIR_CACHE": str(tmp_path / "cache")}
    common = ["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
              "--output-dir", str(tmp_path)]
    done = subprocess.run([sys.executable, str(SCRIPT), "closest", "0.1", "0.3", "2", *common],
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    payload = torch.load(tmp_path / "closest_0.10_0.30_edit_dataset.pt", weights_only=True)
    assert payload["images"].shape[0] == payload["labels"].shape[0] == 2
    bad = subprocess.run([sys.executable, str(SCRIPT), "confident_wrong", "high"],
                         capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: argument confidence_threshold: 'high' is not a number")
    assert "Traceback" not in bad.stderr
