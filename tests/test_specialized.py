"""Making confident_wrong / closest sets as files, from a source whose predictions are chosen.

The source holds a real :class:`ImageSplit` (random pixels) and a :class:`SplitPredictions`
built by hand, so file names, ordering, records and provenance are checked exactly, without a
trained model. The command line on a trained model is in ``test_specialized_cli.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from editset_helpers.generation import Balance, Source
from editset_helpers.io import load_edit_set
from editset_helpers.predictions import SplitPredictions
from editset_helpers.specialized import SpecializedRequest, check_outputs, run_requests
from helpers.datasets import ImageSplit
from helpers.errors import UserError
from model_classes.checkpoints import LoadedModel, ModelMetadata

CLASSES = ["airplane", "automobile", "bird"]
# index: (label, probabilities)        predicted, confidence, p(true), margin
ROWS = [
    (0, [0.75, 0.25, 0.0]),      # 0: right
    (1, [0.75, 0.25, 0.0]),      # 1: 0, 0.75,  0.25,  0.5
    (2, [0.5, 0.25, 0.25]),      # 2: 0, 0.5,   0.25,  0.25
    (0, [0.25, 0.75, 0.0]),      # 3: 1, 0.75,  0.25,  0.5
    (0, [0.125, 0.875, 0.0]),    # 4: 1, 0.875, 0.125, 0.75
    (2, [1.0, 0.0, 0.0]),        # 5: 0, 1.0,   0.0,   1.0
    (1, [0.5, 0.5, 0.0]),        # 6: 0, 0.5,   0.5,   0.0
    (1, [0.375, 0.25, 0.375]),   # 7: 0, 0.375, 0.25,  0.125
]


@pytest.fixture
def source() -> Source:
    labels = torch.tensor([label for label, _ in ROWS])
    images = torch.randint(0, 256, (len(ROWS), 3, 4, 4), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    split = ImageSplit("cifar10", "test", images, labels, list(CLASSES))
    probabilities = torch.tensor([p for _, p in ROWS], dtype=torch.float64)
    predictions = SplitPredictions("cifar10", "test", labels.clone(), probabilities, list(CLASSES))
    loaded = LoadedModel(nn.Identity(), ModelMetadata(architecture="small_mlp", num_classes=3,
                                                      test_accuracy=0.5), None)
    return Source(loaded, split, predictions)


# requests: names and validation ---------------------------------------------------------------

@pytest.mark.parametrize(("kind", "parameters", "name"), [
    ("confident_wrong", {}, "confident_wrong_0.80"),
    ("confident_wrong", {"confidence_threshold": 0.9}, "confident_wrong_0.90"),
    ("confident_wrong", {"confidence_threshold": 1}, "confident_wrong_1.00"),
    ("closest", {}, "closest_0.10_0.30"),
    ("closest", {"min_true_prob": 0.2, "max_margin": 0.2}, "closest_0.20_0.20"),
    ("closest", {"min_true_prob": 0, "max_margin": 1.5}, "closest_0.00_1.50"),
])
def test_names_carry_the_thresholds_with_two_decimals(kind, parameters, name, tmp_path):
    request = SpecializedRequest.make(kind, **parameters)
    assert request.name == name
    assert request.paths(tmp_path) == (tmp_path / f"{name}_edit_dataset.pt",
                                       tmp_path / f"{name}_edit_metadata.json")


def test_defaults_are_the_documented_ones():
    assert SpecializedRequest.make("confident_wrong").parameters == {"confidence_threshold": 0.8}
    assert SpecializedRequest.make("closest").parameters == {"min_true_prob": 0.1,
                                                             "max_margin": 0.3}
    assert SpecializedRequest.make("closest", max_samples=-1).max_samples is None


@pytest.mark.parametrize(("kind", "kwargs", "message"), [
    ("confident_wrong", {"confidence_threshold": 0.0}, "confidence_threshold"),
    ("confident_wrong", {"confidence_threshold": 1.01}, "confidence_threshold"),
    ("closest", {"max_margin": -0.01}, "max_margin"),
    ("closest", {"min_true_prob": 2.0}, "min_true_prob"),
    ("closest", {"max_samples": 0}, "max_samples"),
    ("closest", {"confidence_threshold": 0.5}, "takes min_true_prob, max_margin"),
    ("misclassified", {}, "unknown specialized set type"),
])
def test_bad_requests_fail_before_any_work(kind, kwargs, message):
    with pytest.raises(UserError, match=message):
        SpecializedRequest.make(kind, **kwargs)


# writing --------------------------------------------------------------------------------------

def test_confident_wrong_set_round_trips_with_exact_records(source, tmp_path):
    request = SpecializedRequest.make("confident_wrong", confidence_threshold=0.75, max_samples=3)
    (outcome,) = run_requests(source, [request], tmp_path)
    assert (outcome.available, outcome.kept) == (4, 3)
    pt_path, json_path = outcome.written
    assert pt_path == tmp_path / "confident_wrong_0.75_edit_dataset.pt"

    edit_set = load_edit_set(pt_path)
    assert [m["image_idx"] for m in edit_set.metadata] == [5, 4, 1]  # most confident first
    assert edit_set.labels.tolist() == [2, 0, 1]
    assert edit_set.labels.dtype == torch.long
    assert torch.equal(edit_set.images, source.split.unit_images([5, 4, 1]))
    assert edit_set.metadata[1] == {
        "dataset": "cifar10", "split": "test", "image_idx": 4, "true_label": 0,
        "predicted_label": 1, "true_class": "airplane", "predicted_class": "automobile",
        "type": "confident_wrong", "predicted_probability": 0.875, "true_probability": 0.125,
        "confidence": 0.875,
    }

    raw = torch.load(pt_path, weights_only=True)
    assert set(raw) == {"images", "labels", "metadata"}
    assert raw["images"].dtype == torch.float32 and raw["images"].shape == (3, 3, 4, 4)
    info = json.loads(json_path.read_text())
    assert info["metadata"] == edit_set.metadata
    assert info["type"] == "confident_wrong"
    assert info["parameters"] == {"confidence_threshold": 0.75, "max_samples": 3, "seed": 0}
    assert (info["dataset"], info["split"], info["class_names"]) == ("cifar10", "test", CLASSES)
    assert info["model"]["architecture"] == "small_mlp"
    assert info["available"] == 4 and info["num_samples"] == 3
    assert info["created"] and info["format"].startswith("alexnet-repair-edit-set/")


def test_closest_set_records_margin_and_both_probabilities(source, tmp_path):
    request = SpecializedRequest.make("closest", min_true_prob=0.25, max_margin=0.5)
    (outcome,) = run_requests(source, [request], tmp_path)
    edit_set = load_edit_set(outcome.written[0])
    assert outcome.written[0].name == "closest_0.25_0.50_edit_dataset.pt"
    assert [m["image_idx"] for m in edit_set.metadata] == [6, 7, 2, 1, 3]  # smallest margin first
    assert [m["margin"] for m in edit_set.metadata] == [0.0, 0.125, 0.25, 0.5, 0.5]
    assert [m["true_probability"] for m in edit_set.metadata] == [0.5, 0.25, 0.25, 0.25, 0.25]
    assert [m["predicted_probability"] for m in edit_set.metadata] == [0.5, 0.375, 0.5, 0.75,
                                                                       0.75]
    assert all(m["type"] == "closest" and m["true_label"] != m["predicted_label"]
               for m in edit_set.metadata)
    assert edit_set.source_split() == ("cifar10", "test")


def test_an_empty_selection_writes_nothing(source, tmp_path):
    request = SpecializedRequest.make("closest", min_true_prob=0.75, max_margin=0.5)
    (outcome,) = run_requests(source, [request], tmp_path)
    assert (outcome.available, outcome.kept, outcome.written) == (0, 0, None)
    assert list(tmp_path.iterdir()) == []


def test_dry_run_counts_without_writing(source, tmp_path):
    requests = [SpecializedRequest.make("confident_wrong", confidence_threshold=0.5,
                                        max_samples=2),
                SpecializedRequest.make("closest", min_true_prob=0.25, max_margin=0.25)]
    outcomes = run_requests(source, requests, tmp_path, dry_run=True)
    assert [(o.available, o.kept, o.written) for o in outcomes] == [(6, 2, None), (3, 3, None)]
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_before_anything_is_written(source, tmp_path):
    requests = [SpecializedRequest.make("confident_wrong", confidence_threshold=0.5),
                SpecializedRequest.make("closest", min_true_prob=0.25, max_margin=0.25)]
    second_json = requests[1].paths(tmp_path)[1]
    second_json.write_text("a user's file")
    with pytest.raises(UserError, match="already exists; pass --force"):
        run_requests(source, requests, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [second_json.name]  # first not written
    assert second_json.read_text() == "a user's file"
    outcomes = run_requests(source, requests, tmp_path, force=True)
    assert all(o.written for o in outcomes)


def test_requests_that_would_share_a_file_name_are_refused(tmp_path):
    requests = [SpecializedRequest.make("confident_wrong", confidence_threshold=0.801),
                SpecializedRequest.make("confident_wrong", confidence_threshold=0.8)]
    with pytest.raises(UserError, match=r"confident_wrong_0\.80"):
        check_outputs(requests, tmp_path, force=True)


def test_balancing_keeps_the_most_extreme_of_each_class(source, tmp_path):
    # Wrong and confident >= 0.5, by class: airplane 4 (0.875), 3 (0.75);
    # automobile 1 (0.75), 6 (0.5); bird 5 (1.0), 2 (0.5). A random share would not be stable.
    request = SpecializedRequest.make("confident_wrong", confidence_threshold=0.5)
    for seed in range(4):
        (outcome,) = run_requests(source, [request], tmp_path / str(seed), seed=seed,
                                  balance=Balance(per_class=1))
        edit_set = load_edit_set(outcome.written[0])
        assert [m["image_idx"] for m in edit_set.metadata] == [5, 4, 1]
        assert outcome.result.balance.complete


def test_balancing_then_max_samples_keeps_the_most_extreme(source, tmp_path):
    request = SpecializedRequest.make("closest", min_true_prob=0.0, max_margin=1.0, max_samples=2)
    (outcome,) = run_requests(source, [request], tmp_path, balance=Balance(per_class=1))
    # Smallest margin per class: airplane 3 (0.5), automobile 6 (0.0), bird 2 (0.25).
    edit_set = load_edit_set(outcome.written[0])
    assert [m["image_idx"] for m in edit_set.metadata] == [6, 2]
