"""Judge many changes of one Linear layer quickly: run the layers before it once.

A repair (and the fine-tuning baseline) changes one Linear layer. Everything before that layer
is the same in the base and in every changed model, so a sweep that judges dozens of changed
models on 50,000 images computes the layer's inputs once per image set (cached on disk, keyed
by the weights file and the images' content) and then runs only the layer and those after it.
The answer is the model's own up to float rounding in the matrix product; the generalisation
benchmark compares it with a plain forward pass and records both.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from helpers.cache import cached_tensors, source_fingerprint
from helpers.datasets import ImageSplit
from sytorch.network import leaf_layers, split_at

BATCH_SIZE = 500


@torch.inference_mode()
def layer_inputs(model: nn.Module, layer_name: str, images: torch.Tensor, *,
                 progress: str | bool = False) -> torch.Tensor:
    """Inputs ``(N, in_features)`` of ``layer_name`` for images ``(N, C, H, W)`` (uint8 or
    float in [0, 1])."""
    from tqdm import tqdm

    layer = dict(model.named_modules())[layer_name]
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    model.eval()
    starts = range(0, len(images), BATCH_SIZE)
    if progress:
        starts = tqdm(starts, desc=progress if isinstance(progress, str) else "layer inputs",
                      unit="batch", leave=False)
    try:
        for start in starts:
            batch = images[start:start + BATCH_SIZE]
            if batch.dtype == torch.uint8:
                batch = batch.float().div_(255.0)
            model(batch)
    finally:
        handle.remove()
    return torch.cat(captured).float() if captured else torch.empty(0, layer.in_features)


def cached_layer_inputs(model: nn.Module, weights: str | Path, layer_name: str,
                        split: ImageSplit) -> torch.Tensor:
    """:func:`layer_inputs` of a whole split, cached by the weights file and the split's pixels."""
    fingerprint = source_fingerprint([Path(weights)], "layer-inputs-v1", layer_name,
                                     split.dataset, split.split, split.content_digest())
    name = f"layer-inputs-{split.split}"
    return cached_tensors(name, fingerprint, lambda: {"inputs": layer_inputs(
        model, layer_name, split.images, progress=f"{layer_name} inputs")})["inputs"]


@torch.inference_mode()
def head_logits(model: nn.Module, layer_name: str, inputs: torch.Tensor) -> torch.Tensor:
    """Logits of ``model`` from the cached inputs of ``layer_name`` (the layer and its suffix)."""
    model.eval()
    if leaf_layers(model) is None:  # not Sequential: the repair allowed only the output layer
        layer, suffix = dict(model.named_modules())[layer_name], []
    else:
        found = split_at(model, layer_name)
        layer, suffix = found.layer, found.suffix
    outputs = []
    for start in range(0, len(inputs), BATCH_SIZE):
        out = layer(inputs[start:start + BATCH_SIZE])
        for _, module in suffix:
            out = module(out)
        outputs.append(out.float())
    return torch.cat(outputs) if outputs else torch.empty(0, layer.out_features)
