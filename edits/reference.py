"""Training images a repair looks at besides the edit set.

* The **reference sample** defines the output geometry: the second-moment matrix G of the
  symbolic layer's inputs over it. 5,000 images gave the same drawdown as 50,000 in the notes;
  G depends only on the model, the layer and the sample, so it is cached on disk.
* The **keep set**: correctly classified training images whose labels must stay right after
  the repair, chosen by a rule of :mod:`edits.keep_rules` (random, boundary, neighbours).

At large edit sets the reference sample can be widened (``reference_augment`` adds flipped and
shifted copies of its images; ``reference_neighbours`` adds the training images nearest each edit
image), so G also weighs the directions the images around the edit set use.

Both come from the training split, never the test split, so test accuracy stays a fair
measure of drawdown.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from edits.keep_rules import KeepContext, select_keep_set
from helpers.cache import cached_tensors, source_fingerprint
from helpers.datasets import ImageSplit
from helpers.layer_cache import indices_key, pixels_digest, prefix_digest
from helpers.transforms import augment_batch
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
                  indices: torch.Tensor, *,
                  moment_cache: dict[Any, Any] | None = None, augment: int = 0,
                  seed: int = 0) -> np.ndarray:
    """G = E[f f^T] over ``indices`` of ``split``, plus ``augment`` augmented copies of each.

    Cached in ``moment_cache`` when given (it belongs to one model: the caller keeps one per
    model), else on disk keyed by content (:mod:`helpers.layer_cache`: the modules below the
    layer, the pixels, the sample), so a repaired last layer or a model held only in memory
    reuses it.
    """
    def compute() -> dict[str, torch.Tensor]:
        moment = np.zeros((symbolic.width, symbolic.width))
        generator = torch.Generator().manual_seed(seed + 7)
        chunk, total = 1000, 0
        for start in tqdm(range(0, len(indices), chunk), desc="reference features",
                          unit="chunk", leave=False):
            images = split.unit_images(indices[start:start + chunk])
            for copy in range(augment + 1):
                batch = images if copy == 0 else augment_batch(images, generator)
                features = layer_features(model, symbolic.split, batch)
                moment += features.T @ features
                total += len(features)
        return {"second_moment": torch.from_numpy(moment / max(total, 1))}

    digest = hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]
    if moment_cache is not None:
        key = (symbolic.name, split.dataset, split.split, digest, augment, seed)
        if key not in moment_cache:
            moment_cache[key] = compute()["second_moment"].numpy()
        return moment_cache[key]
    # Augmented copies depend on the seed; a plain sample is keyed by its pixels and indices only.
    augmented = () if augment == 0 else ("augment", augment, seed)
    fingerprint = source_fingerprint([], "second-moment-v2", prefix_digest(model, symbolic.name),
                                     indices_key(pixels_digest(split.images), indices),
                                     *augmented)
    return cached_tensors("second-moment", fingerprint, compute)["second_moment"].numpy()


def build_reference(model: torch.nn.Module, symbolic: SymbolicLinear, split: ImageSplit, *,
                    reference_size: int, keep_size: int, seed: int,
                    need_moment: bool = True,
                    moment_cache: dict[Any, Any] | None = None, keep_rule: str = "random",
                    edit_images: torch.Tensor | None = None, reference_augment: int = 0,
                    reference_neighbours: int = 0) -> ReferenceData:
    """The reference sample's G and the keep set's symbolic rows (module doc)."""
    order = reference_order(split, seed)
    reference = order[:min(reference_size, len(split))]
    edit_images = edit_images if edit_images is not None else torch.zeros(0, *split.image_shape)
    context = KeepContext(model, symbolic.split, split, order, edit_images)
    if reference_neighbours and len(edit_images):
        near = select_keep_set("neighbours", context, reference_neighbours * len(edit_images))
        reference = torch.cat([reference, near[~torch.isin(near, reference)]])
    moment = (second_moment(model, symbolic, split, reference,
                             moment_cache=moment_cache, augment=reference_augment, seed=seed)
              if need_moment else np.zeros((0, 0)))
    keep = torch.zeros(0, dtype=torch.long)
    batch = None
    labels = np.zeros(0, dtype=np.int64)
    if keep_size:
        keep = select_keep_set(keep_rule, context, keep_size)
        if len(keep) < keep_size:
            log.warning("only %d correctly classified training images for a keep set of %d",
                        len(keep), keep_size)
        batch = symbolic_forward(model, symbolic.split, symbolic.neurons, split.unit_images(keep),
                                 progress="keep-set forward")
        labels = split.labels[keep].numpy()
    return ReferenceData(moment, reference.numpy(), keep.numpy(), batch, labels)
