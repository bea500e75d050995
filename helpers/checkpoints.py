"""Checkpoints: a state_dict plus the metadata needed to rebuild and feed the model.

A repaired model is saved the same way as a trained one (same architecture, same keys), so
``eval.py`` and every other tool load it with no conversion step. Loading also accepts a plain
torchvision-style state_dict. Files are always read with ``weights_only=True``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.atomic_io import atomic_torch_save, check_writable
from helpers.errors import UserError
from helpers.torch_files import load_weights_only
from helpers.transforms import CIFAR10_MEAN, CIFAR10_STD
from model_classes.registry import DEFAULT_INPUT_SIZE, build_model

log = logging.getLogger(__name__)

FORMAT = "alexnet-repair-checkpoint/1"


@dataclass
class ModelMetadata:
    """What a checkpoint says about its model; travels into every report."""

    architecture: str = "alexnet"
    num_classes: int = 10
    input_size: int = 64
    mean: list[float] = field(default_factory=lambda: list(CIFAR10_MEAN))
    std: list[float] = field(default_factory=lambda: list(CIFAR10_STD))
    class_names: list[str] | None = None
    dataset: str = "cifar10"
    test_accuracy: float | None = None  # fraction in [0, 1]
    created: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # training or repair provenance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class LoadedModel:
    model: nn.Module
    metadata: ModelMetadata
    path: Path | None = None

    @property
    def class_names(self) -> list[str]:
        if self.metadata.class_names:
            return list(self.metadata.class_names)
        return [f"class_{i}" for i in range(self.metadata.num_classes)]


def save_checkpoint(model: nn.Module, path: str | Path, metadata: ModelMetadata, *,
                    force: bool = False) -> Path:
    """Write model weights and metadata atomically; refuse to overwrite unless ``force``."""
    path = check_writable(path, force=force)
    atomic_torch_save(checkpoint_payload(model, metadata), path)
    return path


def checkpoint_payload(model: nn.Module, metadata: ModelMetadata) -> dict[str, Any]:
    """What a checkpoint file holds, as plain tensors and dicts: a remote worker returns this
    and the driver writes it (``atomic_torch_save``), so the file is the same either way."""
    if not metadata.created:
        metadata.created = datetime.now(UTC).isoformat(timespec="seconds")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "state_dict": state, "metadata": metadata.to_dict()}


def load_checkpoint(path: str | Path, *, class_names: list[str] | None = None) -> LoadedModel:
    """Rebuild the model a checkpoint describes, in eval mode on the CPU."""
    path = Path(path)
    payload = load_weights_only(path, what="model weights", missing_hint="train one with "
                                "`uv run python train.py` or pass --weights PATH")
    if isinstance(payload, dict) and "state_dict" in payload and "metadata" in payload:
        metadata = ModelMetadata.from_dict(payload["metadata"])
        state = payload["state_dict"]
    elif isinstance(payload, dict) and "model_state" in payload and "metadata" in payload:
        metadata = ModelMetadata.from_dict(payload["metadata"])  # a training-epoch checkpoint
        state = payload["model_state"]
    elif isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state = payload
        metadata = _infer_metadata(state, path)
    else:
        raise UserError(f"{path} is neither an alexnet-repair checkpoint nor a state_dict")
    if class_names and not metadata.class_names:
        metadata.class_names = list(class_names)
    model = build_model(metadata.architecture, metadata.num_classes,
                        input_size=metadata.input_size, mean=metadata.mean, std=metadata.std)
    state = _match_prefix(model, state)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # strict=False still raises on a shape mismatch
        detail = next((line.strip() for line in str(error).splitlines()
                       if "size mismatch" in line), str(error).splitlines()[0])
        raise UserError(f"{path} does not fit architecture {metadata.architecture!r} with "
                        f"{metadata.num_classes} classes ({detail[:200]})") from None
    if missing or unexpected:
        raise UserError(f"{path} does not fit architecture {metadata.architecture!r} with "
                        f"{metadata.num_classes} classes (missing {missing[:3]}, unexpected "
                        f"{unexpected[:3]})")
    return LoadedModel(model.eval(), metadata, path)


def _infer_metadata(state: dict[str, torch.Tensor], path: Path) -> ModelMetadata:
    """A plain state_dict: assume torchvision AlexNet on CIFAR-10 defaults, and say so."""
    last_weight = state.get("classifier.6.weight")
    if last_weight is None:
        raise UserError(f"{path} is a plain state_dict but not torchvision AlexNet's; save it with "
                        "its metadata (helpers.checkpoints.save_checkpoint)")
    log.warning("%s is a plain state_dict: assuming AlexNet, %d px input, CIFAR-10 normalisation",
                path, DEFAULT_INPUT_SIZE["alexnet"])
    return ModelMetadata(num_classes=int(last_weight.shape[0]))


def _match_prefix(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Let a plain torchvision state_dict load into a wrapped torchvision classifier."""
    expected = set(model.state_dict())
    if set(state) <= expected or not all(k.startswith("net.") for k in expected):
        return state
    return {f"net.{k}": v for k, v in state.items()}
