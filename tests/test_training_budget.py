"""The quick start's time budget: a plan that fits, a real timing, and the malloc settings."""

from __future__ import annotations

import pytest

from helpers.allocator import MARKER, SETTINGS, tuned_environment
from helpers.datasets import load_split
from model_classes.training_budget import plan_training, time_training_steps


def _plan(per_batch: float, budget: float, **overrides):
    settings = {"epochs": 2, "train_subset": 30_000, "batch_size": 128, "test_images": 10_000}
    return plan_training(per_batch, budget, **{**settings, **overrides})


def test_a_fast_machine_trains_the_full_schedule():
    plan = _plan(0.1, 10_000)
    assert (plan.epochs, plan.train_subset) == (2, 30_000)
    assert plan.expected_seconds <= 10_000


@pytest.mark.parametrize("per_batch", [1.0, 2.0, 3.0])
def test_a_slower_machine_trains_on_fewer_images_within_the_budget(per_batch):
    plan = _plan(per_batch, 400)
    assert plan.expected_seconds <= 400 * 1.01
    assert plan.train_subset < 30_000 and plan.train_subset % 128 == 0
    assert plan.seconds_per_batch == per_batch and plan.budget_seconds == 400


def test_the_subset_shrinks_before_the_epochs_then_the_epochs_go():
    roomy = _plan(1.0, 300)
    assert roomy.epochs == 2 and roomy.train_subset >= 5000
    tight = _plan(4.0, 300)  # 5,000 images twice do not fit: one epoch
    assert tight.epochs == 1 and tight.train_subset >= 5000


def test_timing_real_steps_of_a_small_model(tiny_cifar_root):
    split = load_split("cifar10", "train", data_root=tiny_cifar_root)
    seconds = time_training_steps("small_mlp", split, batch_size=32, steps=2)
    assert 0 < seconds < 10


def test_malloc_settings_are_added_once_and_never_over_the_users(monkeypatch):
    monkeypatch.setattr("platform.system", lambda: "Linux")
    monkeypatch.setattr("platform.libc_ver", lambda: ("glibc", "2.36"))
    tuned = tuned_environment({"PATH": "/bin"})
    assert tuned is not None and tuned[MARKER] == "1" and tuned["PATH"] == "/bin"
    assert all(tuned[name] == value for name, value in SETTINGS.items())
    assert tuned_environment(tuned) is None  # the re-executed process does not loop
    assert tuned_environment({"MALLOC_ARENA_MAX": "8"}) is None  # the user's choice stands
    monkeypatch.setattr("platform.libc_ver", lambda: ("", ""))
    assert tuned_environment({}) is None  # musl, or not glibc: nothing to tune
