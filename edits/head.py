"""Judge many changes of one Linear layer quickly: run the layers before it once.

A repair (and the fine-tuning baseline) changes one Linear layer. Everything before that layer
is the same in the base and in every changed model, so the layer's inputs over an image set
are computed once (:class:`helpers.layer_cache.LayerInputCache`, on disk, keyed by the modules
below the layer and the pixels) and each model is judged by running only the layer and those
after it. Batches are those of a plain forward pass; the tests compare the two.
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.datasets import ImageSplit
from helpers.devices import model_device
from helpers.layer_cache import BATCH_SIZE, LayerInputCache, layer_inputs
from sytorch.network import leaf_layers, split_at

__all__ = ["cached_layer_inputs", "head_logits", "head_predictions", "layer_inputs",
           "supports_head"]


def supports_head(model: nn.Module) -> bool:
    """Whether the layers above a layer are known: an ``nn.Sequential`` tree (AlexNet here).
    Other models are judged by a plain forward pass."""
    return leaf_layers(model) is not None


def cached_layer_inputs(model: nn.Module, layer_name: str, split: ImageSplit, *,
                        cache: LayerInputCache | None = None) -> torch.Tensor:
    """:func:`layer_inputs` of a whole split, from the on-disk cache when it holds them."""
    return (cache or LayerInputCache()).inputs(model, layer_name, split.images,
                                               progress=f"{layer_name} inputs, {split.split}")


@torch.inference_mode()
def head_logits(model: nn.Module, layer_name: str, inputs: torch.Tensor) -> torch.Tensor:
    """Logits (CPU, float32) of ``model`` from the inputs of ``layer_name``: the layer and the
    layers after it, in the batches of a plain forward pass."""
    model.eval()
    if leaf_layers(model) is None:  # not Sequential: the repair allowed only the output layer
        layer, suffix = dict(model.named_modules())[layer_name], []
    else:
        found = split_at(model, layer_name)
        layer, suffix = found.layer, found.suffix
    device = model_device(model)
    outputs = []
    for start in range(0, len(inputs), BATCH_SIZE):
        out = layer(inputs[start:start + BATCH_SIZE].to(device))
        for _, module in suffix:
            out = module(out)
        outputs.append(out.float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0, layer.out_features)


def head_predictions(model: nn.Module, layer_name: str, inputs: torch.Tensor) -> torch.Tensor:
    """Predicted class ids ``(N,)`` from the inputs of ``layer_name``."""
    return head_logits(model, layer_name, inputs).argmax(dim=1)
