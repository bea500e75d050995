"""Transformed copies of images, as a leak between splits would bring them: planted by the
duplicate benchmark and the tests to measure which embedding still finds the original.

Each transformation takes one ``(C, H, W)`` uint8 image and a ``numpy`` generator (for its
random parameters) and returns a new uint8 image of the same shape.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def shift_image(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved by (dy, dx) pixels, the uncovered border filled with the edge pixels (a
    crop-and-pad; a wrap-around would keep the Fourier magnitude exactly and prove nothing)."""
    _, h, w = image.shape
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return image[:, rows][:, :, cols].copy()


def flip(image: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
    """The horizontal mirror image."""
    return image[:, :, ::-1].copy()


def shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A shift of 2 to 4 pixels along each axis, in a random direction."""
    dy, dx = (int(v) * int(rng.choice([-1, 1])) for v in rng.integers(2, 5, size=2))
    return shift_image(image, dy, dx)


def jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter: per channel a gain in [0.8, 1.2] and an offset in [-20, 20]."""
    gain = rng.uniform(0.8, 1.2, size=(image.shape[0], 1, 1))
    bias = rng.uniform(-20, 20, size=(image.shape[0], 1, 1))
    return np.clip(image * gain + bias, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, _rng: np.random.Generator, quality: int = 75) -> np.ndarray:
    """Re-encoded as JPEG at ``quality`` (PIL) and decoded again."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer)).transpose(2, 0, 1).copy()


TRANSFORMS: dict[str, Transform] = {"flip": flip, "shift": shift, "jitter": jitter,
                                    "jpeg": jpeg}
DESCRIPTIONS = {"flip": "horizontal mirror", "shift": "2-4 px in each axis, edges repeated",
                "jitter": "per-channel gain U(0.8, 1.2), offset U(-20, 20)",
                "jpeg": "PIL JPEG quality 75"}
