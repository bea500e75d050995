"""Input preprocessing that travels with the model, and batch augmentation for training.

Models in this toolkit take images as float32 in [0, 1] at the data set's own resolution and
resize and normalise them inside their first module. Edit sets, the web page and every tool can
then hand the same pixels to any checkpoint, whatever input size or normalisation it was trained
with: the checkpoint carries both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class InputTransform(nn.Module):
    """Resize to ``input_size`` and normalise; no learnable state, nothing in the state_dict."""

    def __init__(self, input_size: int, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.input_size = int(input_size)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(images, size=(self.input_size, self.input_size),
                                   mode="bilinear", align_corners=False, antialias=True)
        return (images - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}"


def augment_batch(images: torch.Tensor, generator: torch.Generator, *, padding: int = 4,
                  flip: bool = True) -> torch.Tensor:
    """Random crop after reflect padding, and random horizontal flip, on a whole batch.

    Working on the batch tensor (not per image through PIL) keeps augmentation a small share of
    an epoch on a 2-core CPU; the seeded ``generator`` makes training reproducible.
    """
    n, _, h, w = images.shape
    dtype = images.dtype
    if padding:
        padded = F.pad(images.float(), (padding,) * 4, mode="reflect")
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])  # (n, h)
        cols = (dx[:, None] + torch.arange(w)[None, :])  # (n, w)
        batch_index = torch.arange(n)[:, None, None]
        images = padded.permute(0, 2, 3, 1)[batch_index, rows[:, :, None], cols[:, None, :]]
        images = images.permute(0, 3, 1, 2).to(dtype)
    if flip:
        flips = torch.rand(n, generator=generator) < 0.5
        images = images.clone()
        images[flips] = images[flips].flip(-1)
    return images
