"""A model's predictions on a whole split, computed once and cached on disk.

Every selector (misclassified, by class, confidently wrong, almost right) reads the same
probabilities, and a sweep asks for them again and again: they are cached under ``data/cache``
keyed by the checkpoint file and the data set's source files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from helpers.cache import cached_tensors, source_fingerprint
from helpers.datasets import ImageSplit
from helpers.errors import UserError
from helpers.inference import predict_logits
from model_classes.checkpoints import LoadedModel


@dataclass
class SplitPredictions:
    """Softmax probabilities ``(N, K)`` (float64: thresholds compare exactly), labels ``(N,)``."""

    dataset: str
    split: str
    labels: torch.Tensor
    probabilities: torch.Tensor
    class_names: list[str]

    @property
    def predicted(self) -> torch.Tensor:
        return self.probabilities.argmax(dim=1)

    @property
    def wrong(self) -> torch.Tensor:
        return self.predicted != self.labels

    @property
    def confidence(self) -> torch.Tensor:
        """Probability of the predicted class."""
        return self.probabilities.max(dim=1).values

    @property
    def true_probability(self) -> torch.Tensor:
        return self.probabilities.gather(1, self.labels[:, None]).squeeze(1)

    @property
    def accuracy(self) -> float:
        return float((~self.wrong).double().mean()) if len(self.labels) else float("nan")


def predictions_from_logits(split: ImageSplit, logits: torch.Tensor) -> SplitPredictions:
    if logits.shape[1] != split.num_classes:
        raise UserError(f"the model predicts {logits.shape[1]} classes but {split.dataset} has "
                        f"{split.num_classes}; use weights trained on this data set")
    return SplitPredictions(split.dataset, split.split, split.labels.clone(),
                            torch.softmax(logits.double(), dim=1), list(split.class_names))


def split_predictions(loaded: LoadedModel, split: ImageSplit, *, cache: bool = True
                      ) -> SplitPredictions:
    """Predictions of ``loaded`` on every image of ``split`` (cached when the model has a file)."""
    def compute() -> dict[str, torch.Tensor]:
        return {"logits": predict_logits(loaded.model, split.images,
                                         progress=f"predicting {split.split}")}

    if not cache or loaded.path is None:
        return predictions_from_logits(split, compute()["logits"])
    fingerprint = source_fingerprint([Path(loaded.path)], "logits-v2", split.dataset, split.split,
                                     split.content_digest())
    logits = cached_tensors(f"logits-{split.split}", fingerprint, compute)["logits"]
    return predictions_from_logits(split, logits)
