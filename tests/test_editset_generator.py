"""editset_generator.py end to end on the tiny model: names, contents, balance, refusals."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
import torch

import editset_generator
from editset_helpers.io import REQUIRED_SAMPLE_KEYS, load_edit_set
from model_classes.checkpoints import ModelMetadata, load_checkpoint, save_checkpoint
from model_classes.registry import build_model
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def generate(tiny_cifar_root, tiny_model_path, tmp_path, capsys):
    """Run the script in process on the tiny data; return (exit code, stdout, stderr)."""
    def run(*args: str, weights=tiny_model_path) -> tuple[int, str, str]:
        command, *rest = args
        code = editset_generator.run_main(editset_generator.main, [
            command, "--weights", str(weights), "--data-root", str(tiny_cifar_root),
            "--output-dir", str(tmp_path / "sets"), *rest])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_misclassified_writes_every_wrong_image(generate, tiny, tmp_path):
    split, predicted = tiny
    code, out, _ = generate("misclassified")
    assert code == 0
    wrong = torch.nonzero(predicted != split.labels).flatten().tolist()
    path = tmp_path / "sets" / "misclassified_edit_dataset.pt"
    assert (tmp_path / "sets" / "misclassified_edit_metadata.json").exists()
    edit_set = load_edit_set(path)
    assert edit_set.image_indices == wrong
    assert torch.equal(edit_set.images, split.unit_images(wrong))
    assert edit_set.labels.tolist() == split.labels[wrong].tolist()
    for record in edit_set.metadata:
        assert set(REQUIRED_SAMPLE_KEYS) <= set(record)
        assert record["predicted_label"] == int(predicted[record["image_idx"]])
        assert record["predicted_label"] != record["true_label"]
        assert record["true_class"] == split.class_names[record["true_label"]]
    assert f"{len(wrong)} of 200 cifar10/test images meet the criterion" in out
    assert f"wrote {len(wrong)} images to {path}" in out


def test_max_samples_takes_a_seeded_subset(generate, tmp_path):
    generate("misclassified")
    everything = load_edit_set(tmp_path / "sets" / "misclassified_edit_dataset.pt").image_indices
    subsets = []
    for seed, name in [(1, "a"), (1, "b"), (2, "c")]:
        output = tmp_path / f"{name}_edit_dataset.pt"
        assert generate("misclassified", "--max-samples", "5", "--seed", str(seed),
                        "--output", str(output))[0] == 0
        subsets.append(load_edit_set(output).image_indices)
    assert subsets[0] == subsets[1] != subsets[2]
    assert len(subsets[0]) == 5 and set(subsets[0]) <= set(everything)


@pytest.mark.parametrize(("focus", "file_name"), [
    ("incorrect", "class_3_cat_edit_dataset.pt"),
    ("correct", "class_3_cat_correct_edit_dataset.pt"),
])
def test_by_class_names_and_contents(generate, tiny, tmp_path, focus, file_name):
    split, predicted = tiny
    code, _, _ = generate("by-class", "--target-class", "3", "--focus", focus)
    assert code == 0
    right = predicted == split.labels
    mask = (split.labels == 3) & (right if focus == "correct" else ~right)
    expected = torch.nonzero(mask).flatten().tolist()
    assert expected, "the tiny model should have both right and wrong cats"
    edit_set = load_edit_set(tmp_path / "sets" / file_name)
    assert edit_set.image_indices == expected
    assert {m["true_class"] for m in edit_set.metadata} == {"cat"}
    assert edit_set.metadata[0]["type"] == f"class_homogeneous_{focus}"


def test_balanced_by_num_classes(generate, tiny, tmp_path):
    split, predicted = tiny
    code, out, _ = generate("misclassified", "--per-class", "2", "--num-classes", "8")
    assert code == 0
    edit_set = load_edit_set(tmp_path / "sets" / "misclassified_edit_dataset.pt")
    counts = Counter(m["true_label"] for m in edit_set.metadata)
    wrong_per_class = Counter(split.labels[predicted != split.labels].tolist())
    assert counts == {c: min(2, wrong_per_class[c]) for c in range(8) if wrong_per_class[c]}
    assert "balanced:" in out and "2 per class requested" in out
    recorded = edit_set.info["parameters"]["balance"]
    assert recorded["per_class"] == 2 and recorded["num_classes"] == 8


def test_balanced_by_target_classes(generate, tiny, tmp_path):
    split, predicted = tiny
    wrong_classes = sorted(set(split.labels[predicted != split.labels].tolist()))
    targets = sorted({*wrong_classes[:2], 0})  # 0 may have no wrong image: a shortfall then
    code, out, _ = generate("misclassified", "--per-class", "1", "--target-classes",
                            *map(str, targets))
    assert code == 0
    edit_set = load_edit_set(tmp_path / "sets" / "misclassified_edit_dataset.pt")
    expected = [c for c in targets if c in wrong_classes]  # one image of each class that has one
    assert sorted(m["true_label"] for m in edit_set.metadata) == expected
    if 0 not in wrong_classes:
        assert "short: 0 airplane by 1" in out


def test_balance_classes_without_per_class_is_refused(generate):
    code, _, err = generate("misclassified", "--num-classes", "3")
    assert code == 2 and "give --per-class K" in err


def test_unknown_class_names_the_valid_ones(generate, tmp_path):
    code, out, err = generate("by-class", "--target-class", "12")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: unknown class 12")
    assert "0..9" in err and "3 cat" in err and "9 truck" in err
    assert not (tmp_path / "sets").exists()


def test_existing_output_needs_force(generate, tmp_path):
    assert generate("by-class", "--target-class", "3")[0] == 0
    path = tmp_path / "sets" / "class_3_cat_edit_dataset.pt"
    before = path.read_bytes()
    code, _, err = generate("by-class", "--target-class", "3", "--max-samples", "1")
    assert code == 2 and "already exists; pass --force" in err
    assert path.read_bytes() == before
    assert generate("by-class", "--target-class", "3", "--max-samples", "1", "--force")[0] == 0
    assert len(load_edit_set(path)) == 1


def test_empty_result_writes_nothing_and_exits_zero(generate, tmp_path):
    model = build_model("small_mlp", 10)
    with torch.no_grad():  # a model that answers "airplane" to everything
        model.fc3.weight.zero_()
        model.fc3.bias.copy_(torch.eye(10)[0])
    weights = save_checkpoint(model, tmp_path / "always_0.pth",
                              ModelMetadata(architecture="small_mlp", input_size=8))
    code, out, _ = generate("by-class", "--target-class", "0", "--focus", "incorrect",
                            weights=weights)
    assert code == 0
    assert "0 of 200" in out and "nothing written" in out
    assert not (tmp_path / "sets").exists() or not any((tmp_path / "sets").iterdir())


def test_cached_predictions_follow_the_pixels_not_the_names(tiny, tiny_model_path):
    from editset_helpers.predictions import split_predictions
    from helpers.datasets import ImageSplit

    split, predicted = tiny
    loaded = load_checkpoint(tiny_model_path)
    first = split_predictions(loaded, split)  # cached under the checkpoint and this split
    assert torch.equal(first.predicted, predicted)
    # Same name, split, size and labels, other pixels: e.g. another data root's "cifar10/test".
    other = ImageSplit(split.dataset, split.split, split.images.flip(-1).flip(-2),
                       split.labels.clone(), list(split.class_names))
    with torch.no_grad():
        expected = loaded.model(other.unit_images()).argmax(dim=1)
    assert not torch.equal(expected, predicted)
    assert torch.equal(split_predictions(loaded, other).predicted, expected)


def test_script_runs_as_a_subprocess(tiny_cifar_root, tiny_model_path, tmp_path):
    output = tmp_path / "sub" / "x_edit_dataset.pt"
    result = subprocess.run(
        [sys.executable, "editset_generator.py", "by-class", "--target-class", "7",
         "--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
         "--output", str(output)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"to {output}" in result.stdout
    assert {m["true_label"] for m in load_edit_set(output).metadata} == {7}
    assert (tmp_path / "sub" / "x_edit_metadata.json").exists()
