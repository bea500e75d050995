"""Which correctly classified training images a repair must keep right: rules by name.

A keep set adds lazy rows "this image keeps its label by min(keep margin, its gap)", so a
repair cannot buy the edit set with the training images it would otherwise break. Which
images those are decides whether the rows ever bind:

* ``random``: the first correctly classified images in the seeded reference order. Most sit far
  from any decision boundary, and a small repair never comes near them.
* ``boundary``: the correctly classified images with the smallest margins (label logit minus
  the best other logit) in a candidate pool: the ones any change breaks first.
* ``neighbours``: for each edit image in turn, its nearest correctly classified pool images in
  the symbolic layer's input space (Euclidean): the images a change aimed at the edit set
  moves most, since the layer's output change is linear in that input.

Every rule looks only at the training split, so test accuracy stays a fair measure of drawdown.
The measured effect of each rule is in docs/repair-measurements.md ("Drawdown at large N").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.datasets import ImageSplit
from sytorch.network import LayerSplit

POOL_FACTOR = 4  # candidate pool = POOL_FACTOR x the keep set (at least MIN_POOL images)
MIN_POOL = 5000


@dataclass
class KeepContext:
    """What a rule may look at: the model, its symbolic layer, the split and the edit images."""

    model: nn.Module
    split: LayerSplit
    train: ImageSplit
    order: torch.Tensor  # the seeded order of the training split
    edit_images: torch.Tensor  # (N, C, H, W) in [0, 1]


KeepRule = Callable[[KeepContext, int], torch.Tensor]
KEEP_RULES: dict[str, KeepRule] = {}
KEEP_RULE_HELP = {
    "random": "the first correctly classified images of the seeded order",
    "boundary": "correctly classified images with the smallest margins",
    "neighbours": "each edit image's nearest correctly classified images (layer input space)",
}


def register_keep_rule(name: str) -> Callable[[KeepRule], KeepRule]:
    def decorate(rule: KeepRule) -> KeepRule:
        KEEP_RULES[name] = rule
        return rule
    return decorate


def keep_rule_help() -> str:
    return "; ".join(f"{name}: {KEEP_RULE_HELP[name]}" for name in KEEP_RULES)


def select_keep_set(rule: str, context: KeepContext, count: int) -> torch.Tensor:
    """Indices into ``context.train`` of at most ``count`` correctly classified images."""
    if count <= 0:
        return torch.zeros(0, dtype=torch.long)
    return KEEP_RULES[rule](context, count)


@torch.no_grad()
def pool_outputs(context: KeepContext, pool: torch.Tensor, *, batch_size: int = 500
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Symbolic-layer inputs (P, d) and logits (P, C) of ``pool``, from one forward pass."""
    return _features_and_logits(context.model, context.split.layer,
                                context.train.unit_images(pool), batch_size)


@torch.no_grad()
def _features_and_logits(model: nn.Module, layer: nn.Module, images: torch.Tensor,
                         batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    features, logits = [], []
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    try:
        for start in range(0, len(images), batch_size):
            logits.append(model(images[start:start + batch_size]).double().numpy())
            features.append(captured.pop().flatten(1).double().numpy())
    finally:
        handle.remove()
    return np.concatenate(features), np.concatenate(logits)


def _pool(context: KeepContext, count: int) -> torch.Tensor:
    size = min(len(context.order), max(POOL_FACTOR * count, MIN_POOL))
    return context.order[:size]


def _gaps(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Label logit minus the best other logit; negative when misclassified."""
    rows = np.arange(len(labels))
    own = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    return own - others.max(axis=1)


@register_keep_rule("random")
def keep_random(context: KeepContext, count: int) -> torch.Tensor:
    """The first ``count`` correctly classified images of the seeded order."""
    chosen: list[torch.Tensor] = []
    found, chunk = 0, max(2 * count, 500)
    for start in range(0, len(context.order), chunk):
        candidates = context.order[start:start + chunk]
        _, logits = pool_outputs(context, candidates)
        right = candidates[torch.from_numpy(
            _gaps(logits, context.train.labels[candidates].numpy()) > 0)]
        chosen.append(right[:count - found])
        found += len(chosen[-1])
        if found >= count:
            break
    return torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long)


@register_keep_rule("boundary")
def keep_boundary(context: KeepContext, count: int) -> torch.Tensor:
    """The ``count`` correctly classified pool images closest to a decision boundary."""
    pool = _pool(context, count)
    _, logits = pool_outputs(context, pool)
    gaps = _gaps(logits, context.train.labels[pool].numpy())
    right = np.flatnonzero(gaps > 0)
    nearest = right[np.argsort(gaps[right], kind="stable")[:count]]
    return pool[torch.from_numpy(nearest)]


@register_keep_rule("neighbours")
def keep_neighbours(context: KeepContext, count: int) -> torch.Tensor:
    """Round-robin over the edit images: each one's next-nearest correct pool image."""
    pool = _pool(context, count)
    features, logits = pool_outputs(context, pool)
    right = np.flatnonzero(_gaps(logits, context.train.labels[pool].numpy()) > 0)
    features = features[right]
    edit, _ = _features_and_logits(context.model, context.split.layer, context.edit_images, 500)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, without an (N, P, d) array
    distance = ((edit * edit).sum(1)[:, None] + (features * features).sum(1)[None, :]
                - 2.0 * edit @ features.T)
    ranked = np.argsort(distance, axis=1, kind="stable")  # (N, P): nearest first
    chosen: list[int] = []
    seen: set[int] = set()
    for column in ranked.T:  # every edit image's 1st neighbour, then every 2nd, ...
        for candidate in column.tolist():
            if candidate not in seen:
                seen.add(candidate)
                chosen.append(candidate)
                if len(chosen) == count:
                    return pool[torch.as_tensor(right[chosen])]
    return pool[torch.as_tensor(right[chosen], dtype=torch.long)]
