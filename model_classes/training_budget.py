"""A training schedule cut to fit a time budget, measured against this machine's own speed.

A fixed schedule (2 epochs of 30,000 images) took 7 minutes on one 2-core machine and 17 on
another; the quick start must finish within 10 minutes on either. So before training, a few
SGD steps of the real model on real batches are timed, and the number of training images per
epoch (then, if even the smallest subset does not fit, the epochs) is chosen so the estimate
fits the budget. The plan and the measurement behind it are written next to the model
(``training_plan.json``) so a reader sees why the model is as accurate as it is.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from helpers.datasets import ImageSplit
from helpers.transforms import augment_batch
from model_classes.registry import build_model

FORWARD_SHARE = 0.35  # an inference batch costs about this share of a training step (measured)


@dataclass(frozen=True)
class TrainingPlan:
    """How much to train, and the measurement it rests on (seconds are wall-clock)."""

    epochs: int
    train_subset: int
    seconds_per_batch: float
    expected_seconds: float
    budget_seconds: float
    requested_epochs: int
    requested_subset: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_training_steps(arch: str, split: ImageSplit, *, batch_size: int, steps: int = 3,
                        warmup: int = 1, input_size: int | None = None) -> float:
    """Wall seconds per SGD step of a fresh ``arch`` model on ``split`` (the model is thrown
    away). The first ``warmup`` steps are not counted: they allocate the buffers."""
    model = build_model(arch, split.num_classes, input_size=input_size)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    count = min(batch_size, len(split))
    started = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        index = torch.randint(0, len(split), (count,), generator=generator)
        images = augment_batch(split.images[index], generator).float().div_(255.0)
        loss = F.cross_entropy(model(images), split.labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps * (batch_size / count)


def plan_training(seconds_per_batch: float, budget_seconds: float, *, epochs: int,
                  train_subset: int, batch_size: int, test_images: int,
                  min_subset: int = 5000) -> TrainingPlan:
    """The largest schedule no longer than ``epochs`` x ``train_subset`` that fits the budget.

    Each epoch also evaluates ``test_images`` (at ``FORWARD_SHARE`` of a training step per
    batch). The subset shrinks first, down to ``min_subset``; then the epochs.
    """
    def cost(epochs_: int, subset: int) -> float:
        batches = -(-subset // batch_size) + FORWARD_SHARE * -(-test_images // batch_size)
        return epochs_ * batches * seconds_per_batch

    chosen_epochs, subset = epochs, train_subset
    while chosen_epochs > 1 and cost(chosen_epochs, min(min_subset, train_subset)) > budget_seconds:
        chosen_epochs -= 1
    per_epoch = budget_seconds / chosen_epochs / seconds_per_batch
    fits = int((per_epoch - FORWARD_SHARE * -(-test_images // batch_size)) * batch_size)
    if fits >= train_subset:
        subset = train_subset
    else:  # whole batches, and never below the smallest useful subset
        subset = max(fits // batch_size * batch_size, min(min_subset, train_subset))
    return TrainingPlan(chosen_epochs, subset, seconds_per_batch, cost(chosen_epochs, subset),
                        budget_seconds, epochs, train_subset)
