"""Sweep configurations: stable ids, the grid's shape, and its input checks (no model needed)."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from edits.experiments.grid import (
    TrialConfig,
    check_target_classes,
    expand_grid,
    set_focus,
    takes_target_class,
)
from helpers.errors import UserError

TEMPLATE = TrialConfig(repair_set_type="misclassified", requested_size=10, target_class=None,
                       sizing="flexible", param_bound=5.0, margin=2.0,
                       weights="artifacts/alexnet_base.pth")


def grid(**overrides):
    axes = dict(set_types=["misclassified", "class_homogeneous_incorrect"], sizes=[10, 50],
                target_classes=[3, 5], param_bounds=[5.0], margins=[2.0])
    return expand_grid(TEMPLATE, **{**axes, **overrides})


def test_experiment_id_is_pinned():
    """Existing CSVs are resumed by these ids: a change to the hash must be deliberate.

    The solver is always hashed, so the new default (``auto``, issue 12) gives new ids; a sweep
    started under the old default ``highs`` keeps its ids when resumed with ``--solver highs``.
    """
    assert TEMPLATE.experiment_id == "784ef150a82f347f"
    assert replace(TEMPLATE, solver="highs").experiment_id == "917bca6c157be6b8"


def test_id_ignores_locations_and_spelling_but_not_results():
    same = replace(TEMPLATE, data_root="/elsewhere", edit_sets_dir="x", models_dir=None,
                   weights="./artifacts//alexnet_base.pth", param_bound=5, margin=2)
    assert same.experiment_id == TEMPLATE.experiment_id
    for change in (dict(margin=1.0), dict(param_bound=None), dict(requested_size=11),
                   dict(sizing="strict"), dict(seed=1), dict(layer="penultimate"),
                   dict(weights="other.pth"), dict(time_limit=60)):
        assert replace(TEMPLATE, **change).experiment_id != TEMPLATE.experiment_id, change


def test_config_pickles_for_worker_processes():
    copy = pickle.loads(pickle.dumps(TEMPLATE))
    assert copy == TEMPLATE and copy.experiment_id == TEMPLATE.experiment_id


def test_grid_multiplies_classes_only_for_per_class_types():
    configs = grid()
    assert [(c.repair_set_type, c.target_class, c.requested_size) for c in configs] == [
        ("misclassified", None, 10), ("misclassified", None, 50),
        ("class_homogeneous_incorrect", 3, 10), ("class_homogeneous_incorrect", 3, 50),
        ("class_homogeneous_incorrect", 5, 10), ("class_homogeneous_incorrect", 5, 50)]
    assert len({c.experiment_id for c in configs}) == len(configs)


def test_grid_drops_duplicates_and_crosses_bounds_and_margins():
    configs = grid(set_types=["misclassified"], sizes=[10, 10], param_bounds=[1.0, None],
                   margins=[0.5, 2.0])
    assert len(configs) == 4
    assert {(c.param_bound, c.margin) for c in configs} == {(1.0, 0.5), (1.0, 2.0), (None, 0.5),
                                                            (None, 2.0)}


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(sizes=[0]), "sizes must be positive"),
    (dict(param_bounds=[-1.0]), "--param-bound must be positive"),
    (dict(margins=[-0.5]), "--margin must be >= 0"),
    (dict(set_types=["nonsense"]), "unknown edit-set type"),
    (dict(target_classes=[]), "needs target classes"),
])
def test_grid_rejects_bad_axes(overrides, message):
    with pytest.raises(UserError, match=message):
        grid(**overrides)


def test_grid_rejects_unknown_sizing():
    with pytest.raises(UserError, match="sizing strategy"):
        expand_grid(replace(TEMPLATE, sizing="loose"), set_types=["misclassified"], sizes=[1],
                    target_classes=[], param_bounds=[1.0], margins=[1.0])


def test_target_classes_default_to_all_and_are_checked():
    names = [f"c{i}" for i in range(4)]
    assert check_target_classes(None, names) == [0, 1, 2, 3]
    assert check_target_classes([2, 2, 0], names) == [2, 0]
    with pytest.raises(UserError, match=r"unknown class 4; classes are 0\.\.3"):
        check_target_classes([4], names)


def test_focus_and_per_class_types_come_from_the_registry():
    assert takes_target_class("class_homogeneous_correct")
    assert not takes_target_class("confident_wrong")
    assert [set_focus(t) for t in ("misclassified", "class_homogeneous_correct",
                                   "confident_wrong", "closest")] == [
        "incorrect_only", "correct_only", "confident_wrong", "closest"]  # the seed's values
