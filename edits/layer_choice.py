"""Which layer and which of its neurons a repair may change: small rule families by name.

Layer rules: ``last`` (the last Linear layer, the default: its change cannot move any
activation pattern), ``penultimate``; any other word is taken as a layer name. Neuron rules:
``all``; an explicit list of ids; ``most-active:N``, the N neurons with the largest mean
activation on the edit set (the ones the edit images actually use).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from helpers.errors import UserError
from sytorch.network import linear_layer_names


def _nth_last_linear(n: int) -> Callable[[nn.Module], str]:
    def rule(model: nn.Module) -> str:
        names = linear_layer_names(model)
        if len(names) < n:
            raise UserError(f"the model has {len(names)} Linear layer(s); cannot take the "
                            f"{'last' if n == 1 else 'penultimate'} one")
        return names[-n]
    return rule


LAYER_RULES: dict[str, Callable[[nn.Module], str]] = {
    "last": _nth_last_linear(1),
    "penultimate": _nth_last_linear(2),
}


def choose_layer(model: nn.Module, choice: str) -> str:
    """A rule name resolves to a layer name; a layer name is returned as it is."""
    return LAYER_RULES[choice](model) if choice in LAYER_RULES else choice


def choose_neurons(model: nn.Module, layer_name: str, choice: list[int] | str | None,
                   images: torch.Tensor) -> np.ndarray | None:
    """Neuron ids of ``layer_name`` to make symbolic; None means all of them."""
    if choice is None or choice == "all":
        return None
    if isinstance(choice, list | tuple | np.ndarray):
        return np.asarray(choice, dtype=np.int64)
    rule, _, argument = str(choice).partition(":")
    if rule == "most-active" and argument.isdigit():
        return most_active(model, layer_name, images, int(argument))
    if all(part.strip().isdigit() for part in str(choice).split(",")):
        return np.asarray([int(p) for p in str(choice).split(",")], dtype=np.int64)
    raise UserError(f"--neurons {choice!r} not understood; give ids (0 5 7), 'all' or "
                    "'most-active:N'")


@torch.no_grad()
def most_active(model: nn.Module, layer_name: str, images: torch.Tensor, count: int) -> np.ndarray:
    layer = dict(model.named_modules())[layer_name]
    outputs: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach()))
    try:
        model(images)
    finally:
        handle.remove()
    activation = torch.relu(torch.cat(outputs)).mean(dim=0)
    count = min(count, len(activation))
    return torch.topk(activation, count).indices.sort().values.numpy()
