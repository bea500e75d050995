"""Symbolic forward pass: the network's logits as linear functions of one layer's change.

Layers before the symbolic layer run concretely, once. The symbolic layer's output change is
``f . D[k]`` per symbolic neuron (see :mod:`sytorch.rows`). Later layers carry the Jacobian of
their activations with respect to those K output changes: a Linear layer multiplies it, a ReLU
keeps it where the original network's unit was on and zeroes it where it was off, and emits the
rows that keep that pattern (pre-activation >= 0 where on, <= 0 where off). With those rows
satisfied, the linear expressions are exact for the real network, which is what makes a repair
*provable* rather than approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from sytorch.network import LayerSplit
from sytorch.rows import RowBlock, concat_blocks


@dataclass
class SymbolicBatch:
    """What a batch of images contributes to a repair.

    ``features`` (N, p): the symbolic layer's inputs with a trailing 1 (bias).
    ``logits`` (N, C): the original network's logits, float64.
    ``jacobian`` (N, C, K): d logits / d (output change of each symbolic neuron).
    ``patterns``: rows keeping every ReLU pattern after the symbolic layer.
    """

    features: np.ndarray
    logits: np.ndarray
    jacobian: np.ndarray
    patterns: RowBlock

    def __len__(self) -> int:
        return len(self.features)


class _Jacobian:
    """d activations / d symbolic-output changes, for each image of a chunk.

    Right after the symbolic layer it is a selection (unit ``S[k]`` moves with change k) kept as
    a per-image scale (N, K); after the next Linear it becomes dense (N, width, K). Keeping the
    selection form until then avoids an (N, width, K) array of mostly zeros.
    """

    def __init__(self, neurons: np.ndarray, num_images: int):
        self.neurons = neurons
        self.scale: np.ndarray | None = np.ones((num_images, len(neurons)))
        self.dense: np.ndarray | None = None

    def linear(self, weight: np.ndarray) -> None:
        if self.dense is None:
            self.dense = weight[None, :, self.neurons] * self.scale[:, None, :]
            self.scale = None
        else:
            self.dense = np.einsum("oc,nck->nok", weight, self.dense)

    def elementwise(self, factor: np.ndarray) -> None:
        """Multiply unit-wise by ``factor`` (N, width): a fixed ReLU pattern, a BatchNorm scale."""
        if self.dense is None:
            self.scale = self.scale * factor[:, self.neurons]
        else:
            self.dense = self.dense * factor[:, :, None]

    def pattern_rows(self, pre: np.ndarray, on: np.ndarray, sample_offset: int) -> RowBlock:
        """Rows ``sign * (pre + J . change) >= 0`` for every unit the change can move."""
        sign = np.where(on, 1.0, -1.0)
        if self.dense is None:
            images, ks = np.nonzero(self.scale != 0)
            units = self.neurons[ks]
            coef = np.zeros((len(images), len(self.neurons)))
            coef[np.arange(len(images)), ks] = sign[images, units] * self.scale[images, ks]
        else:
            touched = np.abs(self.dense).max(axis=2) > 0  # (N, width)
            images, units = np.nonzero(touched)
            coef = sign[images, units][:, None] * self.dense[images, units]
        rhs = -sign[images, units] * pre[images, units]
        return RowBlock("pattern", coef, images + sample_offset, rhs, None,
                        images + sample_offset)


@torch.no_grad()
def symbolic_forward(model: nn.Module, split: LayerSplit, neurons: np.ndarray,
                     images: torch.Tensor, *, batch_size: int = 250,
                     progress: str | None = None) -> SymbolicBatch:
    """Run ``images`` through ``model`` with ``split.layer``'s ``neurons`` symbolic."""
    model.eval()
    neurons = np.asarray(neurons, dtype=np.int64)
    features, logits, jacobians, patterns = [], [], [], []
    starts = range(0, len(images), batch_size)
    if progress:
        starts = tqdm(starts, desc=progress, unit="batch", leave=False)
    for start in starts:
        chunk = images[start:start + batch_size]
        layer_input, layer_output = _capture(model, split.layer, chunk)
        h = layer_input.double().flatten(1).numpy()
        features.append(np.hstack([h, np.ones((len(h), 1))]))
        jacobian = _Jacobian(neurons, len(chunk))
        values = layer_output.double().numpy()
        for _, module in split.suffix:
            values = _carry(module, values, jacobian, patterns, start)
        if jacobian.dense is None:  # the symbolic layer is the output layer
            jacobian.linear(np.eye(values.shape[1]))
        logits.append(values)
        jacobians.append(jacobian.dense)
    feature_table = np.concatenate(features)
    pattern_block = (concat_blocks(patterns) if any(len(p) for p in patterns)
                     else RowBlock.empty("pattern", len(neurons)))
    pattern_block.features = feature_table
    return SymbolicBatch(feature_table, np.concatenate(logits), np.concatenate(jacobians),
                         pattern_block)


@torch.no_grad()
def layer_features(model: nn.Module, split: LayerSplit, images: torch.Tensor, *,
                   batch_size: int = 250) -> np.ndarray:
    """The symbolic layer's inputs with a trailing 1, (N, p): all the output geometry needs."""
    model.eval()
    rows = []
    for start in range(0, len(images), batch_size):
        layer_input, _ = _capture(model, split.layer, images[start:start + batch_size])
        h = layer_input.double().flatten(1).numpy()
        rows.append(np.hstack([h, np.ones((len(h), 1))]))
    return np.concatenate(rows)


def _capture(model: nn.Module, layer: nn.Linear, images: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The symbolic layer's input and output on ``images`` (the rest of the model is skipped)."""
    captured: dict[str, torch.Tensor] = {}

    class _Stop(Exception):
        pass

    def hook(_module, inputs, output):
        captured["input"], captured["output"] = inputs[0], output
        raise _Stop

    handle = layer.register_forward_hook(hook)
    try:
        model(images)
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["input"], captured["output"]


def _carry(module: nn.Module, values: np.ndarray, jacobian: _Jacobian, patterns: list[RowBlock],
           sample_offset: int) -> np.ndarray:
    """Push concrete values and the Jacobian through one layer after the symbolic one."""
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().double().numpy()
        jacobian.linear(weight)
        out = values @ weight.T
        return out + module.bias.detach().double().numpy() if module.bias is not None else out
    if isinstance(module, nn.ReLU | nn.LeakyReLU):
        on = values > 0
        patterns.append(jacobian.pattern_rows(values, on, sample_offset))
        slope = module.negative_slope if isinstance(module, nn.LeakyReLU) else 0.0
        factor = np.where(on, 1.0, slope)
        jacobian.elementwise(factor)
        return values * factor
    if isinstance(module, nn.BatchNorm1d):
        gamma = (module.weight.detach().double().numpy() if module.weight is not None
                 else 1.0)
        scale = gamma / np.sqrt(module.running_var.double().numpy() + module.eps)
        jacobian.elementwise(np.broadcast_to(scale, values.shape))
        shift = module.bias.double().numpy() if module.bias is not None else 0.0
        return (values - module.running_mean.double().numpy()) * scale + shift
    return values  # Dropout (eval), Identity, Flatten(1) on (N, width)
