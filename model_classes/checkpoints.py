"""Checkpoints: a state_dict plus the metadata needed to rebuild and feed the model.

A repaired model is saved the same way as a trained one (same architecture, same keys), so
``eval.py`` and every other tool load it with no conversion step. Loading also accepts a plain
torchvision-style state_dict. Files are always read with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import math
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
    def from_dict(cls, data: Any, *, where: str = "checkpoint") -> ModelMetadata:
        """Metadata read from a file, each field checked: a bad one is named, not a crash later
        in ``build_model`` (a negative class count) or ``.items()`` (metadata a string)."""
        if not isinstance(data, dict):
            raise UserError(f"{where}: 'metadata' must be a dict, got {type(data).__name__}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        metadata = cls(**known)
        metadata.check(where)
        return metadata

    def check(self, where: str = "checkpoint") -> ModelMetadata:
        def bad(name: str, expected: str) -> UserError:
            value = repr(getattr(self, name))
            return UserError(f"{where}: metadata field {name!r} must be {expected}, got "
                             f"{value[:60]}")

        if not isinstance(self.architecture, str):
            raise bad("architecture", "a model name")
        for name, low, high in (("num_classes", 1, 100_000), ("input_size", 1, 4096)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise bad(name, f"a whole number in [{low}, {high}]")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if (not isinstance(values, list | tuple) or not values
                    or not all(_finite_number(v) for v in values)
                    or (name == "std" and min(values) <= 0)):
                raise bad(name, "a list of finite numbers (std > 0), one per channel")
        if self.class_names is not None and (
                not isinstance(self.class_names, list)
                or not all(isinstance(n, str) for n in self.class_names)
                or len(self.class_names) != self.num_classes):
            raise bad("class_names", f"null or a list of {self.num_classes} names")
        if self.test_accuracy is not None and not (_finite_number(self.test_accuracy)
                                                   and 0 <= self.test_accuracy <= 1):
            raise bad("test_accuracy", "null or a fraction in [0, 1]")
        if not isinstance(self.extra, dict):
            raise bad("extra", "a dict")
        if not isinstance(self.dataset, str) or not isinstance(self.created, str):
            raise bad("dataset" if not isinstance(self.dataset, str) else "created", "text")
        return self


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


def load_checkpoint(path: str | Path, *, class_names: list[str] | None = None,
                    device: torch.device | str | None = None, mmap: bool = False
                    ) -> LoadedModel:
    """Rebuild the model a checkpoint describes, in eval mode, on ``device`` (the CPU by
    default; see :func:`helpers.devices.resolve_device`). ``mmap`` maps the file instead of
    reading it whole (an epoch checkpoint's optimizer state is then never read)."""
    path = Path(path)
    payload = load_weights_only(path, what="model weights", missing_hint="train one with "
                                "`uv run python train.py` or pass --weights PATH", mmap=mmap)
    if isinstance(payload, dict) and "state_dict" in payload and "metadata" in payload:
        metadata = ModelMetadata.from_dict(payload["metadata"], where=str(path))
        state = payload["state_dict"]
    elif isinstance(payload, dict) and "model_state" in payload and "metadata" in payload:
        metadata = ModelMetadata.from_dict(payload["metadata"], where=str(path))
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
    if device is not None:
        model = model.to(device)
    return LoadedModel(model.eval(), metadata, path)


def _finite_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _infer_metadata(state: dict[str, torch.Tensor], path: Path) -> ModelMetadata:
    """A plain state_dict: assume torchvision AlexNet on CIFAR-10 defaults, and say so."""
    last_weight = state.get("classifier.6.weight")
    if last_weight is None:
        raise UserError(f"{path} is a plain state_dict but not torchvision AlexNet's; save it with "
                        "its metadata (model_classes.checkpoints.save_checkpoint)")
    log.warning("%s is a plain state_dict: assuming AlexNet, %d px input, CIFAR-10 normalisation",
                path, DEFAULT_INPUT_SIZE["alexnet"])
    return ModelMetadata(num_classes=int(last_weight.shape[0]))


def _match_prefix(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Let a plain torchvision state_dict load into a wrapped torchvision classifier."""
    expected = set(model.state_dict())
    if set(state) <= expected or not all(k.startswith("net.") for k in expected):
        return state
    return {f"net.{k}": v for k, v in state.items()}
