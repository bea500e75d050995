"""Check a repaired model by running it: the solver's word is never taken for the result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from helpers.inference import predict_logits
from sytorch.constraints import margins


@dataclass
class Verification:
    """Plain-forward-pass facts about a set of images under a model."""

    images: int
    correct: int
    min_margin: float  # smallest (label logit - best other logit); negative = some wrong
    required_margin: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.images if self.images else float("nan")

    @property
    def all_correct(self) -> bool:
        return self.correct == self.images

    @property
    def margin_met(self) -> bool:
        return self.min_margin >= self.required_margin

    @property
    def passed(self) -> bool:
        return self.all_correct and self.margin_met

    def to_dict(self) -> dict:
        return {"images": self.images, "correct": self.correct, "accuracy": self.accuracy,
                "min_margin": self.min_margin, "required_margin": self.required_margin,
                "all_correct": self.all_correct, "margin_met": self.margin_met,
                "passed": self.passed}


def verify(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
           required_margin: float = 0.0) -> Verification:
    if len(images) == 0:
        return Verification(0, 0, float("inf"), required_margin)
    logits = predict_logits(model, images).double().numpy()
    labels_np = labels.numpy().astype(np.int64)
    per_image = margins(logits, labels_np)
    correct = int((logits.argmax(axis=1) == labels_np).sum())
    return Verification(len(labels_np), correct, float(per_image.min()), required_margin)
