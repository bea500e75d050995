"""Keep-set rules and the widened reference sample, checked against brute force on tiny data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edits.config import RepairConfig
from edits.keep_rules import KeepContext, select_keep_set
from edits.reference import build_reference, reference_order
from edits.repair import repair
from editset_helpers.generation import Source
from helpers.datasets import load_split
from helpers.inference import predict_logits
from sytorch.constraints import margins
from sytorch.symbolic import SymbolicLinear


@pytest.fixture(scope="module")
def tiny_setting(tiny_model_path, tiny_cifar_root):
    """The tiny model's source, its training split, and 12 test images it gets wrong."""
    source = Source.load(tiny_model_path, data_root=tiny_cifar_root)
    index = torch.nonzero(source.predictions.wrong).flatten()[:12]
    return (source, load_split("cifar10", "train", data_root=tiny_cifar_root),
            (source.split.unit_images(index), source.split.labels[index]))


def _context(source, train_split, images) -> KeepContext:
    model = source.loaded.model
    symbolic = SymbolicLinear.mark(model, "fc3", None, probe=images[:2])
    return KeepContext(model, symbolic.split, train_split, reference_order(train_split, 0),
                       images)


def _train_margins(source, train_split) -> np.ndarray:
    logits = predict_logits(source.loaded.model, train_split.unit_images()).double().numpy()
    return margins(logits, train_split.labels.numpy())


def test_boundary_takes_the_smallest_positive_margins(tiny_setting):
    source, train_split, wrong = tiny_setting
    gaps = _train_margins(source, train_split)
    chosen = select_keep_set("boundary", _context(source, train_split, wrong[0]), 20).numpy()
    right = np.flatnonzero(gaps > 0)
    expected = right[np.argsort(gaps[right])[:20]]  # the pool is the whole tiny split
    assert sorted(chosen.tolist()) == sorted(expected.tolist())


def test_neighbours_start_with_each_edit_images_nearest_correct_image(tiny_setting):
    source, train_split, wrong = tiny_setting
    images = wrong[0]
    context = _context(source, train_split, images)
    chosen = select_keep_set("neighbours", context, len(images)).tolist()
    captured: list[torch.Tensor] = []
    handle = context.split.layer.register_forward_hook(
        lambda _m, inputs, _o: captured.append(inputs[0].flatten(1)))
    with torch.no_grad():
        source.loaded.model(images)
        source.loaded.model(train_split.unit_images())
    handle.remove()
    right = torch.from_numpy(_train_margins(source, train_split) > 0)
    distance = torch.cdist(captured[0].double(), captured[1].double())
    distance[:, ~right] = float("inf")
    nearest = set(distance.argmin(dim=1).tolist())
    assert nearest <= set(chosen)  # every edit image's nearest is in, whatever the ties
    assert all(right[i] for i in chosen)


def test_random_rule_keeps_correct_images_in_the_seeded_order(tiny_setting):
    source, train_split, wrong = tiny_setting
    chosen = select_keep_set("random", _context(source, train_split, wrong[0]), 30)
    gaps = _train_margins(source, train_split)
    order = reference_order(train_split, 0).numpy()
    expected = [i for i in order if gaps[i] > 0][:30]
    assert chosen.tolist() == expected


@pytest.mark.parametrize("rule", ["boundary", "neighbours"])
def test_a_repair_keeps_the_chosen_images_right(tiny_setting, rule):
    source, train_split, wrong = tiny_setting
    images, labels = wrong
    config = RepairConfig(margin=1.0, param_bound=10.0, reference_size=300, keep_set=40,
                          keep_rule=rule)
    result = repair(source.loaded.model, images, labels, config, train_split=train_split)
    assert result.status == "repaired", result.message
    assert result.keep_verification.images == 40 and result.keep_verification.all_correct


def test_augmented_and_neighbour_references_change_g_and_stay_symmetric(tiny_setting):
    source, train_split, wrong = tiny_setting
    model = source.loaded.model
    symbolic = SymbolicLinear.mark(model, "fc3", None, probe=wrong[0][:2])
    moments = {}
    for name, extra in {"plain": {}, "augment": {"reference_augment": 1},
                        "neighbours": {"reference_neighbours": 3,
                                       "edit_images": wrong[0]}}.items():
        moments[name] = build_reference(model, symbolic, train_split, reference_size=100,
                                        keep_size=0, seed=0, moment_cache={},
                                        **extra).second_moment
    for name, moment in moments.items():
        assert np.allclose(moment, moment.T), name
        if name != "plain":
            assert not np.allclose(moment, moments["plain"]), name
