"""Mark a Linear layer (or some of its neurons) symbolic, and write a solved change back.

The change variables of neuron ``neurons[k]`` are row k of a (K, in_features + 1) matrix: its
weights, then its bias. :class:`SymbolicLinear` is the bridge between that matrix and the
layer's tensors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sytorch.errors import SytorchError
from sytorch.network import LayerSplit, split_at


@dataclass
class SymbolicLinear:
    split: LayerSplit
    neurons: np.ndarray  # output neurons whose weights and bias may change

    @classmethod
    def mark(cls, model: nn.Module, layer_name: str, neurons: list[int] | np.ndarray | None = None,
             probe: torch.Tensor | None = None) -> SymbolicLinear:
        split = split_at(model, layer_name, probe)
        out = split.layer.out_features
        chosen = np.arange(out) if neurons is None else np.unique(np.asarray(neurons, dtype=int))
        if len(chosen) == 0 or chosen.min() < 0 or chosen.max() >= out:
            raise SytorchError(f"--neurons must be ids in 0..{out - 1} of layer {layer_name!r}")
        return cls(split, chosen)

    @property
    def name(self) -> str:
        return self.split.name

    @property
    def width(self) -> int:
        """Change variables per neuron: in_features weights and one bias."""
        return self.split.layer.in_features + 1

    @property
    def num_variables(self) -> int:
        return len(self.neurons) * self.width

    def apply(self, model: nn.Module, change: np.ndarray) -> nn.Module:
        """A copy of ``model`` with ``change`` (K, width) added to this layer's parameters."""
        repaired = copy.deepcopy(model)
        layer = dict(repaired.named_modules())[self.name]
        delta = torch.as_tensor(change, dtype=torch.float64)
        with torch.no_grad():
            rows = torch.as_tensor(self.neurons)
            weight = layer.weight.double()
            weight[rows] += delta[:, :-1]
            layer.weight.copy_(weight.to(layer.weight.dtype))
            if layer.bias is None:
                if np.any(change[:, -1]):
                    raise SytorchError(f"layer {self.name!r} has no bias to change")
            else:
                bias = layer.bias.double()
                bias[rows] += delta[:, -1]
                layer.bias.copy_(bias.to(layer.bias.dtype))
        return repaired.eval()
