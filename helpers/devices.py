"""Which torch device the model runs on: ``--device auto|cpu|cuda|mps``.

Only forward passes (prediction, evaluation, training, reference features) use the device; the
symbolic layer and the LP/QP solvers work on NumPy arrays on the CPU whatever is chosen.
"""

from __future__ import annotations

import logging

import torch

from helpers.errors import UserError

log = logging.getLogger(__name__)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA if present, then MPS, then the CPU; a named device must be present."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but torch sees no CUDA GPU on this "
                            "machine; use --device cpu (or auto)")
        return torch.device("cuda")
    if name == "mps":
        if not _mps_available():
            raise UserError("--device mps was asked for but Apple's MPS backend is not "
                            "available here; use --device cpu (or auto)")
        return torch.device("mps")
    raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or mps")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (the CPU for a model without parameters)."""
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")
