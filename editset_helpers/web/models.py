"""The base and repaired models, each run once over each set, and the verdict per image.

Predictions are the costly part of a page (AlexNet over 2,000 images takes seconds on a CPU),
so they are computed on first need and kept per (set file identity, model): later pages,
filters and detail views only index into them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from editset_helpers.web.lru import LRUCache
from editset_helpers.web.sets import FileIdentity, LoadedSet
from helpers.devices import resolve_device
from helpers.errors import UserError
from helpers.inference import predict_logits
from model_classes.checkpoints import LoadedModel, load_checkpoint

log = logging.getLogger(__name__)

ROLES = ("base", "repaired")
VERDICTS = {  # key -> what the page says; "before" is the base model, "after" the repaired one
    "fixed": "fixed",
    "still_wrong": "still wrong",
    "broken": "broken (was right, now wrong)",
    "still_right": "still right",
}


def verdict(label: int, before: int, after: int) -> str:
    """How a repair changed one image: a key of :data:`VERDICTS`."""
    if before == label:
        return "still_right" if after == label else "broken"
    return "fixed" if after == label else "still_wrong"


@dataclass
class Models:
    """The models the visualizer was started with; ``note`` says why one is missing."""

    base: LoadedModel | None = None
    repaired: LoadedModel | None = None
    note: str | None = None

    def get(self, role: str) -> LoadedModel | None:
        return {"base": self.base, "repaired": self.repaired}[role]

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES if self.get(r) is not None]

    def describe(self) -> dict[str, dict[str, object] | None]:
        """Which file each role was loaded from (for the page header and /api/sets)."""
        return {role: None if (m := self.get(role)) is None else {
            "path": str(m.path), "architecture": m.metadata.architecture,
            "test_accuracy": m.metadata.test_accuracy} for role in ROLES}


def load_models(weights: str | Path | None, repaired: str | Path | None, *,
                device: str | None = None) -> Models:
    """Load the checkpoints named on the command line (UserError for a missing or bad file),
    on ``device`` (``--device``: auto, cpu, cuda, mps; the CPU when not given)."""
    if repaired is not None and weights is None:
        raise UserError("--repaired needs the base model to compare with; pass --weights PATH")
    where = resolve_device(device) if device is not None else None
    base = load_checkpoint(weights, device=where) if weights is not None else None
    after = load_checkpoint(repaired, device=where) if repaired is not None else None
    if base is not None and after is not None and \
            base.metadata.num_classes != after.metadata.num_classes:
        raise UserError(f"--weights predicts {base.metadata.num_classes} classes but --repaired "
                        f"{after.metadata.num_classes}; pass the repaired model of this base model")
    return Models(base, after)


@dataclass(frozen=True)
class ModelOutput:
    """One model on one set: softmax probabilities ``(N, K)``, or why it could not run."""

    role: str
    probabilities: np.ndarray | None
    error: str | None = None

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


class Predictor:
    """Runs each model over each set once and keeps the probabilities (LRU of ``max_entries``)."""

    def __init__(self, models: Models, *, max_entries: int = 32):
        self.models = models
        self._cache: LRUCache[tuple[FileIdentity, str], ModelOutput] = LRUCache(max_entries)
        # One forward pass at a time (few cores); cached outputs never wait for it.
        self._forward = threading.Lock()

    def output(self, loaded: LoadedSet, role: str) -> ModelOutput | None:
        """The model's output on the set, or None when no model has this role."""
        model = self.models.get(role)
        if model is None:
            return None
        return self._cache.get_or_create((loaded.identity, role),
                                         lambda: self._run(model, loaded, role))

    def _run(self, model: LoadedModel, loaded: LoadedSet, role: str) -> ModelOutput:
        with self._forward:
            return self._forward_pass(model, loaded, role)

    def _forward_pass(self, model: LoadedModel, loaded: LoadedSet, role: str) -> ModelOutput:
        start = time.perf_counter()
        images = loaded.edit_set.images
        try:
            logits = predict_logits(model.model, images, batch_size=250,
                                    progress=f"{role} model on {loaded.name}")
        except RuntimeError as error:  # e.g. grey images into an RGB model
            first = (str(error).splitlines() or [""])[0][:200]
            log.warning("%s model cannot run on %s: %s", role, loaded.name, first)
            return ModelOutput(role, None, f"the {role} model cannot run on this set ({first})")
        if len(images) == 0:
            logits = torch.empty(0, model.metadata.num_classes)
        probabilities = torch.softmax(logits.double(), dim=1).float().numpy()
        log.info("%s model on %s: %d images in %.2f s", role, loaded.name, len(images),
                 time.perf_counter() - start)
        return ModelOutput(role, probabilities)
