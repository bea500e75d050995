"""Generalisation of a repair: accuracy on held-out images of the shift it was asked to fix.

Beside efficacy (edit images fixed) and drawdown (clean images outside the edit set not
broken), the provable-repair literature reports **generalisation**: accuracy on unseen images
of the same kind as the edit images, before and after. For an edit set made by
:mod:`editset_helpers.corrupted`, those are the held-out half of the test split under the same
corruption, named in the set's metadata. ``eval.py``, the repair report, the experiment CSV and
the generalisation benchmark all call :func:`generalisation_accuracy`, so they agree.

The generalisation images are always run through the model in the same order and batches, so
a repaired model in memory and its saved checkpoint give bit-identical predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from editset_helpers.corrupted import GENERALISATION_KEY, check_disjoint
from editset_helpers.evaluation import Accuracy, accuracy_from_predictions
from helpers.corruptions import corrupted_split
from helpers.datasets import ImageSplit
from helpers.errors import UserError
from helpers.inference import predict_logits

if TYPE_CHECKING:
    from editset_helpers.io import EditSet
    from model_classes.checkpoints import LoadedModel

BATCH_SIZE = 500


@dataclass(frozen=True)
class GeneralisationSet:
    """Held-out images of one split under one corruption, by source index."""

    dataset: str
    split: str
    corruption: str
    severity: int
    corruption_seed: int
    indices: tuple[int, ...]

    @classmethod
    def from_edit_set(cls, edit_set: EditSet) -> GeneralisationSet | None:
        """The set an edit set's metadata names, or ``None`` for an edit set without one."""
        record = edit_set.info.get(GENERALISATION_KEY)
        if not record:
            return None
        try:
            gset = cls(str(record["dataset"]), str(record["split"]), str(record["corruption"]),
                       int(record["severity"]), int(record.get("corruption_seed", 0)),
                       tuple(int(i) for i in record["image_idx"]))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{edit_set.path or 'edit set'}: its {GENERALISATION_KEY} entry is "
                            f"incomplete ({error}); make the edit set again") from None
        check_disjoint(edit_set.metadata, record)
        return gset

    def images(self, clean: ImageSplit) -> tuple[torch.Tensor, torch.Tensor]:
        """``uint8`` images ``(M, C, H, W)`` and labels ``(M,)`` of the set, from the clean split
        it was drawn from (corrupted and cached on first use)."""
        if (clean.dataset, clean.split) != (self.dataset, self.split):
            raise UserError(f"the generalisation set comes from {self.dataset}/{self.split}, not "
                            f"{clean.dataset}/{clean.split}; evaluate on that split")
        index = clean.check_indices(list(self.indices))
        shifted = corrupted_split(clean, self.corruption, self.severity,
                                  seed=self.corruption_seed)
        return shifted.images[index], clean.labels[index]

    def describe(self) -> str:
        return (f"{len(self.indices)} held-out {self.dataset}/{self.split} images under "
                f"{self.corruption} (severity {self.severity})")

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "split": self.split, "corruption": self.corruption,
                "severity": self.severity, "corruption_seed": self.corruption_seed,
                "images": len(self.indices)}


def shift_accuracy(loaded: LoadedModel, images: torch.Tensor, labels: torch.Tensor,
                   class_names: Sequence[str], *, name: str = "generalisation") -> Accuracy:
    """Accuracy of ``loaded`` on ``images`` (always in batches of :data:`BATCH_SIZE`)."""
    if not len(images):
        return accuracy_from_predictions(name, torch.empty(0, dtype=torch.long), labels,
                                         class_names)
    logits = predict_logits(loaded.model, images, batch_size=BATCH_SIZE)
    if logits.shape[1] != len(class_names):
        raise UserError(f"the model predicts {logits.shape[1]} classes but the data set has "
                        f"{len(class_names)}; use weights trained on this data set")
    return accuracy_from_predictions(name, logits.argmax(dim=1), labels, class_names)


def generalisation_accuracy(loaded: LoadedModel, gset: GeneralisationSet, clean: ImageSplit
                            ) -> Accuracy:
    """Accuracy of ``loaded`` on the generalisation set ``gset`` (see the module docstring)."""
    images, labels = gset.images(clean)
    return shift_accuracy(loaded, images, labels, clean.class_names)


def other_shift_accuracies(loaded: LoadedModel, gset: GeneralisationSet, clean: ImageSplit,
                           corruptions: Sequence[str]) -> dict[str, float]:
    """Accuracy on the same held-out images under other corruptions (same severity):
    does fixing fog break snow?"""
    results = {}
    for name in corruptions:
        other = GeneralisationSet(gset.dataset, gset.split, name, gset.severity,
                                  gset.corruption_seed, gset.indices)
        results[name] = generalisation_accuracy(loaded, other, clean).accuracy
    return results


@dataclass
class GeneralisationResult:
    """Generalisation-set accuracy before and after a repair (fractions in [0, 1])."""

    gset: GeneralisationSet
    before: Accuracy
    after: Accuracy | None

    @property
    def gain_points(self) -> float | None:
        """Accuracy gained on the held-out images, percentage points (positive = better)."""
        if self.after is None or not self.before.count:
            return None
        return 100 * (self.after.accuracy - self.before.accuracy)

    def to_dict(self) -> dict[str, Any]:
        return {**self.gset.to_dict(), "accuracy_before": self.before.accuracy,
                "accuracy_after": self.after.accuracy if self.after else None,
                "gain_points": self.gain_points}
