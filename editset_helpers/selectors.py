"""Edit-set selectors: which images of a split go into an edit set, and in what order.

One family with one signature, registered by name so a CLI word or a sweep's set type maps
straight to an entry: ``selector(predictions, *, max_samples, seed, **parameters)`` returns a
:class:`Selection`. Rules that rank images (confidently wrong, almost right) keep the most
extreme first when ``max_samples`` cuts the list; rules that do not rank take a seeded random
subset, nested across sizes (the first 10 of seed 0 are inside its first 50).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from editset_helpers.predictions import SplitPredictions
from helpers.errors import UserError


@dataclass
class Selection:
    """Chosen split indices (in order) and extra metadata for each of them."""

    indices: list[int]
    extra: list[dict[str, Any]] = field(default_factory=list)
    available: int = 0  # how many images met the criterion before max_samples cut
    ranked: bool = False  # indices run most extreme first; balancing must keep that order

    def __post_init__(self) -> None:
        if not self.extra:
            self.extra = [{} for _ in self.indices]


Selector = Callable[..., Selection]
SELECTORS: dict[str, Selector] = {}


def register(name: str) -> Callable[[Selector], Selector]:
    def decorate(function: Selector) -> Selector:
        SELECTORS[name] = function
        return function
    return decorate


def check_max_samples(max_samples: int | None) -> int | None:
    """``None`` or -1 means all; 0 and other negatives are mistakes."""
    if max_samples is None or max_samples == -1:
        return None
    if max_samples < 1:
        raise UserError(f"max_samples must be a positive number or -1 for all, got {max_samples}")
    return max_samples


def random_subset(candidates: torch.Tensor, max_samples: int | None, seed: int) -> list[int]:
    """A seeded random subset, nested across sizes, returned in index order."""
    max_samples = check_max_samples(max_samples)
    if max_samples is None or max_samples >= len(candidates):
        return candidates.tolist()
    generator = torch.Generator().manual_seed(seed)
    chosen = candidates[torch.randperm(len(candidates), generator=generator)[:max_samples]]
    return chosen.sort().values.tolist()


@register("misclassified")
def select_misclassified(predictions: SplitPredictions, *, max_samples: int | None = None,
                         seed: int = 0) -> Selection:
    """Every image whose predicted class differs from its label."""
    candidates = torch.nonzero(predictions.wrong).flatten()
    return Selection(random_subset(candidates, max_samples, seed), available=len(candidates))


def _class_homogeneous(predictions: SplitPredictions, target_class: int, focus: str,
                       max_samples: int | None, seed: int) -> Selection:
    if not 0 <= target_class < len(predictions.class_names):
        raise UserError(f"unknown class {target_class}; classes are "
                        f"0..{len(predictions.class_names) - 1}"
                        f" ({', '.join(predictions.class_names)})")
    if focus not in ("incorrect", "correct"):
        raise UserError(f"--focus must be 'incorrect' or 'correct', got {focus!r}")
    in_class = predictions.labels == target_class
    mask = in_class & (predictions.wrong if focus == "incorrect" else ~predictions.wrong)
    candidates = torch.nonzero(mask).flatten()
    return Selection(random_subset(candidates, max_samples, seed), available=len(candidates))


@register("class_homogeneous_incorrect")
def select_class_incorrect(predictions: SplitPredictions, *, target_class: int,
                           max_samples: int | None = None, seed: int = 0) -> Selection:
    """Images of one true class that the model gets wrong."""
    return _class_homogeneous(predictions, target_class, "incorrect", max_samples, seed)


@register("class_homogeneous_correct")
def select_class_correct(predictions: SplitPredictions, *, target_class: int,
                         max_samples: int | None = None, seed: int = 0) -> Selection:
    """Images of one true class that the model gets right (a set to preserve or harden)."""
    return _class_homogeneous(predictions, target_class, "correct", max_samples, seed)


def _number(name: str, value: object) -> float:
    """Parameters may come from a sweep's JSON as strings; a non-number is the user's mistake."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None


def check_confidence_threshold(confidence_threshold: float) -> float:
    """A top-class probability threshold in (0, 1]: 0 would admit every wrong image."""
    confidence_threshold = _number("confidence_threshold", confidence_threshold)
    if not 0.0 < confidence_threshold <= 1.0:  # also rejects NaN
        raise UserError(f"confidence_threshold must lie in (0, 1], got {confidence_threshold}")
    return confidence_threshold


def check_closest_parameters(min_true_prob: float, max_margin: float) -> tuple[float, float]:
    """``min_true_prob`` in [0, 1] and a margin >= 0 (NaN would silently select nothing)."""
    min_true_prob = _number("min_true_prob", min_true_prob)
    max_margin = _number("max_margin", max_margin)
    if not 0.0 <= min_true_prob <= 1.0:
        raise UserError(f"min_true_prob must lie in [0, 1], got {min_true_prob}")
    if not max_margin >= 0.0:
        raise UserError(f"max_margin must be a number >= 0, got {max_margin}")
    return min_true_prob, max_margin


@register("confident_wrong")
def select_confident_wrong(predictions: SplitPredictions, *, confidence_threshold: float = 0.8,
                           max_samples: int | None = None, seed: int = 0) -> Selection:
    """Wrong predictions whose top softmax probability is at least the threshold.

    Kept when ``predicted != label`` and ``max_k p_k >= confidence_threshold`` (inclusive, on
    the float64 probabilities). Ordered by that confidence, highest first, ties by image index,
    so ``max_samples`` keeps the most confidently wrong images and the result never depends on
    ``seed``. Each record gets ``confidence``.
    """
    del seed  # the order is fixed by confidence
    threshold = check_confidence_threshold(confidence_threshold)
    limit = check_max_samples(max_samples)
    confidence = predictions.confidence
    mask = predictions.wrong & (confidence >= threshold)
    candidates = torch.nonzero(mask).flatten()
    order = _stable_order(-confidence[candidates], candidates)
    chosen = candidates[order][:limit].tolist()
    extra = [{"confidence": float(confidence[i])} for i in chosen]
    return Selection(chosen, extra, available=len(candidates), ranked=True)


@register("closest")
def select_closest(predictions: SplitPredictions, *, min_true_prob: float = 0.1,
                   max_margin: float = 0.3, max_samples: int | None = None,
                   seed: int = 0) -> Selection:
    """Wrong predictions that were almost right.

    Kept when ``predicted != label``, ``p_label >= min_true_prob`` and
    ``p_predicted - p_label <= max_margin`` (both inclusive, on the float64 probabilities).
    Ordered by that margin, smallest first, ties by image index, so ``max_samples`` keeps the
    images nearest to the decision boundary. Each record gets ``true_probability``,
    ``predicted_probability`` and ``margin``. A wrong prediction has ``p_label <= 0.5``, so a
    ``min_true_prob`` above 0.5 selects nothing.
    """
    del seed
    min_true_prob, max_margin = check_closest_parameters(min_true_prob, max_margin)
    limit = check_max_samples(max_samples)
    true_prob, predicted_prob = predictions.true_probability, predictions.confidence
    margin = predicted_prob - true_prob
    mask = predictions.wrong & (true_prob >= min_true_prob) & (margin <= max_margin)
    candidates = torch.nonzero(mask).flatten()
    order = _stable_order(margin[candidates], candidates)
    chosen = candidates[order][:limit].tolist()
    extra = [{"true_probability": float(true_prob[i]), "predicted_probability":
              float(predicted_prob[i]), "margin": float(margin[i])} for i in chosen]
    return Selection(chosen, extra, available=len(candidates), ranked=True)


def _stable_order(keys: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Sort by key, ties by image index, so the order never depends on the sort algorithm."""
    by_index = torch.argsort(indices, stable=True)
    by_key = torch.argsort(keys[by_index], stable=True)
    return by_index[by_key]


def get_selector(name: str) -> Selector:
    if name not in SELECTORS:
        raise UserError(f"unknown edit-set type {name!r}; use one of "
                        f"{', '.join(sorted(SELECTORS))}")
    return SELECTORS[name]
