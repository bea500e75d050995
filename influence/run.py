"""The checkpoints of one training run, each with the learning rate TracIn weighs it by.

``train.py`` writes ``<checkpoint-dir>/<run>/epoch_NNN.pt`` after every epoch with the weights,
the metadata and a ``record`` whose ``lr_mean`` is the mean learning rate of that epoch's
steps (a one-cycle schedule changes it every step; the mean is the step size the epoch's
gradients were actually taken with, on average). A checkpoint without it cannot be weighed and
is refused, as are checkpoints of different architectures in one folder.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.errors import NotFoundError, UserError
from helpers.torch_files import load_weights_only
from model_classes.checkpoints import LoadedModel, ModelMetadata, load_checkpoint

CHECKPOINT_GLOB = "epoch_*.pt"
_EPOCH = re.compile(r"epoch_(\d+)\.pt$")


@dataclass(frozen=True)
class RunCheckpoint:
    """One epoch checkpoint: where it is, which epoch, its learning rate and a content hash."""

    path: Path
    epoch: int
    learning_rate: float
    architecture: str
    num_classes: int
    dataset: str
    fingerprint: str  # sha256 of the file's bytes (first 16 hex digits): keys the cache

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "epoch": self.epoch,
                "learning_rate": self.learning_rate, "fingerprint": self.fingerprint}

    def load(self) -> LoadedModel:
        """The model at this checkpoint, in eval mode (dropout off, as TracIn's gradients are
        of the deterministic model)."""
        return load_checkpoint(self.path, mmap=True)


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def read_checkpoint(path: Path, *, fingerprint: bool = True) -> RunCheckpoint:
    """A checkpoint's identity and learning rate (the weights are loaded later, one at a time).

    ``fingerprint=False`` skips hashing the file (``fingerprint`` is then empty): a run's
    unselected checkpoints are read for their metadata only.
    """
    # memory-mapped: the metadata without reading a few hundred MB of tensors
    payload = load_weights_only(path, what="epoch checkpoint",
                                missing_hint="check --checkpoint-dir", mmap=True)
    if not isinstance(payload, dict) or "metadata" not in payload or not (
            "model_state" in payload or "state_dict" in payload):
        raise UserError(f"{path} is not an epoch checkpoint of train.py (no weights and "
                        "metadata)")
    metadata = ModelMetadata.from_dict(payload["metadata"], where=str(path))
    record = payload.get("record")
    rate = record.get("lr_mean") if isinstance(record, dict) else None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not (
            math.isfinite(rate) and rate > 0):
        raise UserError(f"{path} has no learning rate (record.lr_mean); TracIn weighs each "
                        "checkpoint by it: use the epoch checkpoints train.py writes")
    match = _EPOCH.search(path.name)
    epoch = int(payload.get("epoch", match.group(1) if match else 0))
    return RunCheckpoint(path, epoch, float(rate), metadata.architecture, metadata.num_classes,
                         metadata.dataset, file_fingerprint(path) if fingerprint else "")


def find_checkpoints(directory: str | Path, selection: str = "all") -> list[RunCheckpoint]:
    """The epoch checkpoints of a run folder, in epoch order, filtered by ``selection``
    (see :func:`select_checkpoints`), all of one architecture."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFoundError(f"checkpoint folder {directory} not found; pass --checkpoint-dir "
                            "artifacts/checkpoints/<run> (train.py writes it)")
    paths = sorted(directory.glob(CHECKPOINT_GLOB))
    if not paths:
        raise NotFoundError(f"{directory} holds no {CHECKPOINT_GLOB} files; pass the folder "
                            "train.py wrote (artifacts/checkpoints/<run>)")
    checkpoints = sorted((read_checkpoint(p, fingerprint=False) for p in paths),
                         key=lambda c: c.epoch)
    first = checkpoints[0]
    for other in checkpoints[1:]:
        if (other.architecture, other.num_classes) != (first.architecture, first.num_classes):
            raise UserError(f"{directory} mixes architectures: {first.path.name} is "
                            f"{first.architecture} with {first.num_classes} classes, "
                            f"{other.path.name} {other.architecture} with {other.num_classes}; "
                            "keep one run's checkpoints per folder")
    return [replace(c, fingerprint=file_fingerprint(c.path))
            for c in select_checkpoints(checkpoints, selection)]


def select_checkpoints(checkpoints: list[RunCheckpoint], selection: str) -> list[RunCheckpoint]:
    """``all``, ``last:K`` (the K latest), ``every:K`` (every K-th, always ending with the
    last) or a comma list of epochs (``2,5,10``)."""
    text = selection.strip()
    kind, _, value = text.partition(":")
    if text == "all":
        return list(checkpoints)
    if kind in ("last", "every") and value.isdigit() and int(value) >= 1:
        k = int(value)
        if kind == "last":
            return checkpoints[-k:]
        return checkpoints[::-1][::k][::-1]
    if re.fullmatch(r"\d+(,\d+)*", text):
        wanted = [int(t) for t in text.split(",")]
        by_epoch = {c.epoch: c for c in checkpoints}
        missing = [e for e in wanted if e not in by_epoch]
        if missing:
            raise UserError(f"--checkpoints names epochs {missing} that the run does not have "
                            f"(it has {sorted(by_epoch)})")
        return [by_epoch[e] for e in sorted(set(wanted))]
    raise UserError(f"--checkpoints {selection!r} is not one of: all, last:K, every:K, or a "
                    "comma list of epochs like 2,5,10")


def load_learning_rate(model: nn.Module, path: str) -> float:
    """Captum's ``checkpoints_load_func``: load the weights into ``model``, return the rate."""
    checkpoint = read_checkpoint(Path(path))
    payload = torch.load(path, map_location="cpu", weights_only=True)
    state = payload.get("model_state", payload.get("state_dict"))
    model.load_state_dict(state)
    model.eval()
    return checkpoint.learning_rate
