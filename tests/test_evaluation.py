"""``evaluate_model`` and its parts, checked against a direct computation on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from editset_helpers.evaluation import (
    accuracy_from_predictions,
    drawdown_indices,
    evaluate_model,
    format_accuracy_summary,
    format_accuracy_table,
)
from helpers.datasets import load_split
from helpers.errors import UserError
from model_classes.checkpoints import load_checkpoint
from tests.edit_set_factory import edit_set_from


def direct_confusion(labels: torch.Tensor, predicted: torch.Tensor, k: int) -> list[list[int]]:
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (labels.numpy(), predicted.numpy()), 1)
    return confusion.tolist()


def test_accuracy_from_predictions_by_hand():
    result = accuracy_from_predictions("x", torch.tensor([0, 1, 1, 2, 0]),
                                       torch.tensor([0, 1, 2, 2, 1]), ["a", "b", "c", "d"])
    assert (result.count, result.correct) == (5, 3)
    assert result.accuracy == pytest.approx(0.6)
    assert result.per_class == [1.0, 0.5, 0.5, None]  # class d has no images
    assert result.confusion == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]


def test_out_of_range_labels_are_user_errors():
    with pytest.raises(UserError, match="label 5 is outside the 3 classes"):
        accuracy_from_predictions("edit set", torch.tensor([0]), torch.tensor([5]), "abc")


def test_evaluate_model_matches_a_direct_computation(tiny, tiny_loaded):
    (split, predicted), loaded = tiny, tiny_loaded
    report = evaluate_model(loaded, split, progress=False)
    correct = int((predicted == split.labels).sum())
    assert 0 < correct < len(split)  # the tiny model is right on most, wrong on some
    assert (report.test.count, report.test.correct) == (len(split), correct)
    assert report.test.confusion == direct_confusion(split.labels, predicted, 10)
    for c in range(10):
        in_class = split.labels == c
        expected = float((predicted[in_class] == c).float().mean())
        assert report.test.per_class[c] == pytest.approx(expected)
    assert report.edit is None and report.drawdown is None


def test_drawdown_excludes_exactly_the_edit_images(tiny, tiny_loaded):
    (split, predicted), loaded = tiny, tiny_loaded
    edit_indices = [3, 17, 42, 199]
    report = evaluate_model(loaded, split, edit_set_from(split, edit_indices), progress=False)
    keep = torch.ones(len(split), dtype=torch.bool)
    keep[edit_indices] = False
    assert report.excluded == 4 and report.drawdown.count == len(split) - 4
    assert report.drawdown.correct == int((predicted[keep] == split.labels[keep]).sum())
    assert report.drawdown.confusion == direct_confusion(split.labels[keep], predicted[keep], 10)
    index = torch.tensor(edit_indices)
    assert report.edit.correct == int((predicted[index] == split.labels[index]).sum())
    assert report.test.correct == report.drawdown.correct + report.edit.correct


def test_known_predictions_skip_the_forward_pass(tiny, tiny_loaded):
    (split, predicted), loaded = tiny, tiny_loaded
    edit_set = edit_set_from(split, [5, 6])
    computed = evaluate_model(loaded, split, edit_set, progress=False)
    given = evaluate_model(loaded, split, edit_set, predicted=predicted, progress=False)
    assert given.to_dict() == computed.to_dict()
    everything_right = evaluate_model(loaded, split, predicted=split.labels, progress=False)
    assert everything_right.test.accuracy == 1.0  # the given labels were used, not recomputed


def test_edit_set_of_wrong_images_scores_zero_on_the_base_model(tiny, tiny_loaded):
    (split, predicted), loaded = tiny, tiny_loaded
    wrong = torch.nonzero(predicted != split.labels).flatten().tolist()
    report = evaluate_model(loaded, split, edit_set_from(split, wrong, predicted=predicted),
                            progress=False)
    assert report.edit.count == len(wrong) and report.edit.correct == 0
    assert report.drawdown.accuracy == 1.0


def test_records_without_source_take_the_sets_own(tiny, tiny_loaded):
    (split, _), loaded = tiny, tiny_loaded
    edit_set = edit_set_from(split, [1, 2], with_source=False)
    assert drawdown_indices(split, edit_set.metadata).tolist() == [0, *range(3, len(split))]
    edit_set.info.update(dataset="cifar10", split="train")  # the set says: from another split
    report = evaluate_model(loaded, split, edit_set, progress=False)
    assert report.excluded == 0 and report.drawdown.count == len(split)


def test_drawdown_index_errors(tiny, tiny_loaded):
    split, _ = tiny
    with pytest.raises(UserError, match="no image_idx"):
        drawdown_indices(split, [{"true_label": 1}])
    with pytest.raises(UserError, match="index out of range"):
        drawdown_indices(split, [{"image_idx": len(split)}])
    assert len(drawdown_indices(split, [{"image_idx": 0, "split": "train"}])) == len(split)


def test_report_is_strict_json_and_tables_read_well(tiny, tiny_loaded):
    (split, _), loaded = tiny, tiny_loaded
    empty = edit_set_from(split, [])
    report = evaluate_model(loaded, split, empty, progress=False)
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert document["edit"]["accuracy"] is None and document["edit"]["images"] == 0
    assert document["test"]["accuracy"] == pytest.approx(report.test.accuracy)
    assert len(document["test"]["per_class_accuracy"]) == 10
    assert format_accuracy_summary(report.edit) == "edit set: no images"
    table = format_accuracy_table(report.test)
    assert "3 cat" in table and "confusion matrix" in table and "nan" not in table
    many = accuracy_from_predictions("wide", torch.tensor([0]), torch.tensor([0]),
                                     [f"c{i}" for i in range(30)])
    assert "omitted" in format_accuracy_table(many)


def test_model_with_another_class_count_is_a_user_error(tiny, tiny_loaded, tmp_path):
    from model_classes.checkpoints import ModelMetadata, save_checkpoint
    from model_classes.registry import build_model

    split, _ = tiny
    path = save_checkpoint(build_model("small_mlp", 4), tmp_path / "four.pth",
                           ModelMetadata(architecture="small_mlp", num_classes=4, input_size=8))
    with pytest.raises(UserError, match="predicts 4 classes but cifar10 has 10"):
        evaluate_model(load_checkpoint(path), split, progress=False)


def test_real_base_model_reproduces_its_recorded_accuracy(real_base_model, real_cifar_root,
                                                          monkeypatch):
    from tests.conftest import PROJECT_ROOT

    monkeypatch.setenv("ALEXNET_REPAIR_CACHE", str(PROJECT_ROOT / "data" / "cache"))
    split = load_split("cifar10", "test", data_root=real_cifar_root, download=False)
    loaded = load_checkpoint(real_base_model)
    report = evaluate_model(loaded, split, edit_set_from(split, range(100)))
    assert report.test.count == 10_000 and report.drawdown.count == 9_900
    assert report.test.accuracy > 0.5  # a trained AlexNet, far above chance (0.1)
    if loaded.metadata.test_accuracy is not None:  # train.py measured it the same way
        assert report.test.accuracy == pytest.approx(loaded.metadata.test_accuracy, abs=1e-4)
