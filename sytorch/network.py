"""See a model as a sequence of layers and split it at the layer to be made symbolic.

Any ``nn.Sequential`` tree (AlexNet here, or a user's own) is flattened into its leaf layers in
execution order. The layers after the symbolic one must be carried linearly with fixed ReLU
patterns, so only a known set of them is accepted there; anything else (a pooling switch, a
convolution) is refused with a message that names it. For models that are not sequential, the
symbolic layer must be the one whose output is the model's output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sytorch.errors import SytorchError

# Layers that are linear maps or fixed-pattern piecewise-linear maps in eval mode.
CARRIABLE = (nn.Linear, nn.ReLU, nn.Dropout, nn.Identity, nn.Flatten, nn.BatchNorm1d,
             nn.LeakyReLU)


@dataclass
class LayerSplit:
    """The symbolic layer, its qualified name, and the layers that follow it."""

    name: str
    layer: nn.Linear
    suffix: list[tuple[str, nn.Module]]


def leaf_layers(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]] | None:
    """Leaf layers in execution order, or None when the model is not a Sequential tree."""
    if not isinstance(model, nn.Sequential):
        return None
    layers: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        qualified = f"{prefix}{name}"
        if isinstance(child, nn.Sequential):
            inner = leaf_layers(child, f"{qualified}.")
            layers.extend(inner or [])
        else:
            layers.append((qualified, child))
    return layers


def linear_layer_names(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]


def split_at(model: nn.Module, layer_name: str, probe: torch.Tensor | None = None) -> LayerSplit:
    """Find ``layer_name`` and check that everything after it can be carried symbolically."""
    modules = dict(model.named_modules())
    if layer_name not in modules:
        names = ", ".join(linear_layer_names(model)) or "none"
        raise SytorchError(f"layer {layer_name!r} not found; Linear layers of this model: {names}")
    layer = modules[layer_name]
    if not isinstance(layer, nn.Linear):
        raise SytorchError(f"layer {layer_name!r} is {type(layer).__name__}; only Linear layers "
                           "can be made symbolic (Linear layers: "
                           f"{', '.join(linear_layer_names(model))})")
    leaves = leaf_layers(model)
    if leaves is None:
        _check_is_output_layer(model, layer, layer_name, probe)
        return LayerSplit(layer_name, layer, [])
    position = next(i for i, (name, _) in enumerate(leaves) if name == layer_name)
    suffix = leaves[position + 1:]
    for name, module in suffix:
        if not isinstance(module, CARRIABLE):
            raise SytorchError(
                f"layer {name!r} ({type(module).__name__}) comes after {layer_name!r} and cannot "
                "be carried as a linear expression with fixed activation patterns; make a later "
                f"Linear layer symbolic (--layer {linear_layer_names(model)[-1]})")
        if isinstance(module, nn.Flatten) and module.start_dim != 1:
            raise SytorchError(f"layer {name!r} flattens from dim {module.start_dim}; only "
                               "Flatten(1) can follow the symbolic layer")
    return LayerSplit(layer_name, layer, suffix)


def _check_is_output_layer(model: nn.Module, layer: nn.Linear, name: str,
                           probe: torch.Tensor | None) -> None:
    """A non-sequential model: accept the layer only if its output is the model's output."""
    if probe is None:
        raise SytorchError(f"{type(model).__name__} is not an nn.Sequential; only its output layer "
                           "can be repaired, and checking that needs a probe batch")
    captured: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.__setitem__("out", out))
    try:
        with torch.no_grad():
            output = model(probe)
    finally:
        handle.remove()
    if "out" not in captured or not torch.equal(captured["out"], output):
        raise SytorchError(f"{type(model).__name__} is not an nn.Sequential and {name!r} is not "
                           "its output layer; only the final Linear layer of such a model can be "
                           "repaired")
