"""Training images a repair looks at besides the edit set.

* The **reference sample** defines the output geometry: the second-moment matrix G of the
  symbolic layer's inputs over it. 5,000 images gave the same drawdown as 50,000 in the notes;
  G depends only on the model, the layer and the sample, so it is cached on disk.
* The **keep set**: correctly classified training images (drawn from the same seeded order)
  whose labels must stay right after the repair.

Both come from the training split, never the test split, so test accuracy stays a fair
measure of drawdown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from helpers.cache import cached_tensors, source_fingerprint
from helpers.datasets import ImageSplit
from helpers.inference import predict_labels
from helpers.layer_cache import indices_key, pixels_digest, prefix_digest
from sytorch.forward import SymbolicBatch, layer_features, symbolic_forward
from sytorch.symbolic import SymbolicLinear

log = logging.getLogger(__name__)


@dataclass
class ReferenceData:
    second_moment: np.ndarray  # (p, p)
    reference_indices: np.ndarray
    keep_indices: np.ndarray
    keep_batch: SymbolicBatch | None
    keep_labels: np.ndarray


def reference_order(split: ImageSplit, seed: int) -> torch.Tensor:
    return torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))


def second_moment(model: torch.nn.Module, symbolic: SymbolicLinear, split: ImageSplit,
                  indices: torch.Tensor, *, model_path: Path | None,
                  moment_cache: dict[Any, Any] | None = None) -> np.ndarray:
    """G = E[f f^T] over ``indices`` of ``split``.

    Cached in ``moment_cache`` when given (it belongs to one model: the caller keeps one per
    model), else on disk keyed by content (:mod:`helpers.layer_cache`: the modules below the
    layer, the pixels, the sample), so a repaired last layer or a model held only in memory
    reuses it; ``model_path`` is no longer needed for that.
    """
    def compute() -> dict[str, torch.Tensor]:
        moment = np.zeros((symbolic.width, symbolic.width))
        chunk = 1000
        for start in tqdm(range(0, len(indices), chunk), desc="reference features",
                          unit="chunk", leave=False):
            features = layer_features(model, symbolic.split,
                                      split.unit_images(indices[start:start + chunk]))
            moment += features.T @ features
        return {"second_moment": torch.from_numpy(moment / len(indices))}

    if moment_cache is not None:
        key = (symbolic.name, split.dataset, split.split, tuple(indices.tolist()))
        if key not in moment_cache:
            moment_cache[key] = compute()["second_moment"].numpy()
        return moment_cache[key]
    fingerprint = source_fingerprint([], "second-moment-v2", prefix_digest(model, symbolic.name),
                                     indices_key(pixels_digest(split.images), indices))
    return cached_tensors("second-moment", fingerprint, compute)["second_moment"].numpy()


def build_reference(model: torch.nn.Module, symbolic: SymbolicLinear, split: ImageSplit, *,
                    reference_size: int, keep_size: int, seed: int,
                    model_path: Path | None = None, need_moment: bool = True,
                    moment_cache: dict[Any, Any] | None = None) -> ReferenceData:
    order = reference_order(split, seed)
    reference = order[:min(reference_size, len(split))]
    moment = (second_moment(model, symbolic, split, reference, model_path=model_path,
                             moment_cache=moment_cache)
              if need_moment else np.zeros((0, 0)))
    keep = torch.zeros(0, dtype=torch.long)
    batch = None
    labels = np.zeros(0, dtype=np.int64)
    if keep_size:
        keep = _correct_prefix(model, split, order, keep_size)
        if len(keep) < keep_size:
            log.warning("only %d correctly classified training images for a keep set of %d",
                        len(keep), keep_size)
        batch = symbolic_forward(model, symbolic.split, symbolic.neurons, split.unit_images(keep),
                                 progress="keep-set forward")
        labels = split.labels[keep].numpy()
    return ReferenceData(moment, reference.numpy(), keep.numpy(), batch, labels)


def _correct_prefix(model: torch.nn.Module, split: ImageSplit, order: torch.Tensor,
                    count: int) -> torch.Tensor:
    """The first ``count`` images in ``order`` that the model classifies correctly."""
    chosen: list[torch.Tensor] = []
    found, chunk = 0, max(2 * count, 500)
    for start in range(0, len(order), chunk):
        candidates = order[start:start + chunk]
        predicted = predict_labels(model, split.images[candidates])
        correct = candidates[predicted == split.labels[candidates]]
        chosen.append(correct[:count - found])
        found += len(chosen[-1])
        if found >= count:
            break
    return torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long)
