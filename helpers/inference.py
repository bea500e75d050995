"""Batched forward passes with progress, the one way every tool gets predictions."""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from helpers.devices import model_device


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, *, batch_size: int = 500,
                   progress: bool | str = False) -> torch.Tensor:
    """Logits ``(N, K)`` on the CPU for images ``(N, C, H, W)``: uint8 (0..255) or float in
    [0, 1]. Batches run on the model's device (``--device``); the images may stay on the CPU."""
    model.eval()
    device = model_device(model)
    outputs = []
    starts = range(0, len(images), batch_size)
    if progress:
        desc = progress if isinstance(progress, str) else "predicting"
        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for start in starts:
        batch = images[start:start + batch_size].to(device)
        if batch.dtype == torch.uint8:
            batch = batch.float().div_(255.0)
        outputs.append(model(batch).float().cpu())
    if not outputs:
        return torch.empty(0, 0)
    return torch.cat(outputs)


def predict_labels(model: nn.Module, images: torch.Tensor, **kwargs) -> torch.Tensor:
    return predict_logits(model, images, **kwargs).argmax(dim=1)
