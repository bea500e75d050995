"""Pixels to PNG, upscaled by whole numbers with nearest-neighbour so 32 px images stay crisp.

Browsers smooth small images when they scale them; ``image-rendering: pixelated`` in the CSS
asks them not to, and serving the PNG already at a whole-number scale makes the result crisp
even where that property is ignored (and in screenshots).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from helpers.errors import UserError

SIZES = {"thumb": 96, "large": 288}  # target longest side in pixels


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """``(N, C, H, W)`` floats in [0, 1] -> ``(N, H, W, C)`` uint8, C being 1 (grey) or 3 (RGB)."""
    channels = images.shape[1]
    if channels not in (1, 3):
        raise UserError(f"images have {channels} channels; the visualizer shows 1 (grey) "
                        "or 3 (RGB)")
    pixels = images.detach().clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def scale_for(height: int, width: int, size: str) -> int:
    """The whole-number factor bringing the longest side nearest ``SIZES[size]`` (at least 1)."""
    if size not in SIZES:
        raise UserError(f"unknown image size {size!r}; use one of {', '.join(SIZES)}")
    return max(1, round(SIZES[size] / max(height, width)))


def encode_png(pixels: np.ndarray, scale: int = 1) -> bytes:
    """One ``(H, W, C)`` uint8 image as PNG bytes, each pixel repeated ``scale`` times per axis."""
    array = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    image = Image.fromarray(np.ascontiguousarray(array))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
