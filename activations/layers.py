"""Layer names a user can give, and the forward pass that records their outputs.

Names are the model's own module paths (``classifier.5``, ``features.10``); ``penultimate`` is
the layer whose output feeds the last Linear layer, skipping Dropout and Identity (for AlexNet,
the ReLU after the second 4,096-wide layer: the representation the classifier separates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from helpers.errors import NotFoundError, UserError

PENULTIMATE = "penultimate"
PASS_THROUGH = (nn.Dropout, nn.Identity)


def leaf_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Modules without children, in forward order for sequential models, by name."""
    return {name: module for name, module in model.named_modules()
            if name and not any(True for _ in module.children())}


def penultimate_layer(model: nn.Module) -> str:
    """The leaf before the model's last Linear layer (Dropout and Identity skipped)."""
    names = list(leaf_layers(model))
    modules = leaf_layers(model)
    last_linear = max((i for i, n in enumerate(names) if isinstance(modules[n], nn.Linear)),
                      default=None)
    if last_linear is None or last_linear == 0:
        raise UserError("the model has no Linear layer with a layer before it; name a layer "
                        "with --layer (see the error for unknown names)")
    for name in reversed(names[:last_linear]):
        if not isinstance(modules[name], PASS_THROUGH):
            return name
    raise UserError("no layer before the model's last Linear layer records anything")


def resolve_layers(model: nn.Module, requested: Sequence[str]) -> list[str]:
    """Real module names for ``requested`` (``penultimate`` resolved), duplicates dropped."""
    if not requested:
        raise UserError("name at least one layer with --layer (e.g. --layer penultimate)")
    modules = dict(model.named_modules())
    resolved = []
    for name in requested:
        real = penultimate_layer(model) if name == PENULTIMATE else name
        if not real or real not in modules:
            leaves = list(leaf_layers(model))
            raise NotFoundError(f"the model has no layer {name!r}; use {PENULTIMATE} or one of "
                                f"{', '.join(leaves[:12])}{', ...' if len(leaves) > 12 else ''}")
        resolved.append(real)
    return list(dict.fromkeys(resolved))


@dataclass
class LayerOutputs:
    """Per layer ``(N, D)`` activations (flattened), and the model's ``(N, K)`` logits."""

    activations: dict[str, np.ndarray]
    logits: torch.Tensor


@torch.inference_mode()
def record_layers(model: nn.Module, images: torch.Tensor, layers: Sequence[str], *,
                  batch_size: int = 250, dtype: np.dtype = np.float32,
                  progress: bool = True) -> LayerOutputs:
    """Run ``model`` over uint8 or [0, 1] images and keep each named layer's output.

    Outputs are copied as they come: a later in-place ReLU must not change what was recorded.
    """
    model.eval()
    device = next(model.parameters()).device
    modules = dict(model.named_modules())
    current: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            current[name] = output.detach().reshape(len(output), -1).to(torch.float32, copy=True)
        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in layers]
    outputs: dict[str, np.ndarray] = {}
    logits = []
    try:
        starts = range(0, len(images), batch_size)
        for start in tqdm(starts, desc="recording activations", unit="batch",
                          disable=not progress, leave=False):
            batch = images[start:start + batch_size]
            if batch.dtype == torch.uint8:
                batch = batch.float().div_(255.0)
            logits.append(model(batch.to(device)).float().cpu())
            for name in layers:
                values = current.pop(name).cpu().numpy().astype(dtype, copy=False)
                if name not in outputs:
                    outputs[name] = np.empty((len(images), values.shape[1]), dtype=dtype)
                outputs[name][start:start + len(values)] = values
    finally:
        for handle in handles:
            handle.remove()
    return LayerOutputs(outputs, torch.cat(logits) if logits else torch.empty(0, 0))
