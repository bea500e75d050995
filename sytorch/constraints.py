"""Rows that say what the repaired network must output.

``label_rows`` asks, for every image and every other class j, that the label's logit beat
logit j by a required gap: the edit set's margin, or for images that must merely stay right
(the keep set), a gap no larger than the one they already have.
"""

from __future__ import annotations

import numpy as np

from sytorch.forward import SymbolicBatch
from sytorch.rows import RowBlock


def logit_gaps(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, C) ``logit[label] - logit[j]``, +inf on the label itself."""
    gaps = logits[np.arange(len(labels)), labels][:, None] - logits
    gaps[np.arange(len(labels)), labels] = np.inf
    return gaps


def label_rows(batch: SymbolicBatch, labels: np.ndarray, required: np.ndarray | float, *,
               kind: str = "margin") -> RowBlock:
    """``logit[y] - logit[j] >= required`` for every image and every class j != y.

    ``required`` is one number or one per image (N,).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n, num_classes = batch.logits.shape
    required = np.broadcast_to(np.asarray(required, dtype=np.float64), (n,))
    images = np.repeat(np.arange(n), num_classes)
    others = np.tile(np.arange(num_classes), n)
    keep = others != labels[images]
    images, others = images[keep], others[keep]
    coef = batch.jacobian[images, labels[images]] - batch.jacobian[images, others]
    gap = batch.logits[images, labels[images]] - batch.logits[images, others]
    return RowBlock(kind, coef, images, required[images] - gap, batch.features, images)


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image: label logit minus the best other logit (positive = correct)."""
    return logit_gaps(logits, labels).min(axis=1)
