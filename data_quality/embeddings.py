"""Image embeddings for the duplicate search, one family with one signature, by name.

Every embedding maps uint8 images ``(N, C, H, W)`` to L2-normalised float32 rows ``(N, D)``,
so an inner product is a cosine similarity and faiss's exact inner-product index ranks pairs.
They differ in what a copy may have gone through and still be found
(``benchmarks/results/near_duplicates.json`` measures each against flips, 2-4 pixel shifts,
colour jitter and JPEG re-encoding):

* ``pixels``: the raw pixels, centred per image: exact and brightness-shifted copies only;
* ``thumbnail``: the image averaged with its mirror image (blind to horizontal flips), shrunk
  to 8x8 (JPEG blocks average out) and standardised per colour channel (blind to brightness and
  contrast changes of each channel); a shift of a few pixels still moves it;
* ``spectrum``: the log-magnitude of each standardised channel's 2-D Fourier transform, its
  16x16 lowest frequencies, averaged with its mirror image's. The magnitude ignores where the
  picture sits (a shift changes only the phase, apart from the border), the standardisation
  ignores colour gains and offsets, JPEG mostly alters the discarded high frequencies;
* ``model``: a layer of the model (``--layer``, default the penultimate one), averaged over the
  image and its mirror image, reduced by PCA: what the network considers the same picture.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from helpers.errors import UserError
from model_classes.checkpoints import LoadedModel

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 8
SPECTRUM_HALF = 8  # the 16x16 lowest frequencies


@dataclass
class EmbeddingContext:
    """What an embedding may need besides the images: the model and the layer settings."""

    loaded: LoadedModel | None = None
    layer: str = "penultimate"
    flip_average: bool = True
    batch_size: int = 250
    progress: bool = True


Embedding = Callable[[torch.Tensor, EmbeddingContext], np.ndarray]
EMBEDDINGS: dict[str, Embedding] = {}
NEEDS_MODEL = {"model"}
CENTRED = {"model"}  # centred on the shared mean by embed_sets


def register(name: str) -> Callable[[Embedding], Embedding]:
    def decorate(function: Embedding) -> Embedding:
        EMBEDDINGS[name] = function
        return function
    return decorate


def embed(name: str, images: torch.Tensor, context: EmbeddingContext) -> np.ndarray:
    """``(N, D)`` float32 rows of embedding ``name``, before centring and normalising.

    Use :func:`embed_sets` to compare several image sets: it centres them on one shared mean
    (when the embedding needs it), reduces them by one PCA and normalises the rows.
    """
    if name not in EMBEDDINGS:
        raise UserError(f"unknown embedding {name!r}; use one of {', '.join(EMBEDDINGS)}")
    if name in NEEDS_MODEL and context.loaded is None:
        raise UserError(f"the {name} embedding needs a model; pass --weights PATH")
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise UserError(f"images must be uint8 (N, C, H, W), got {images.dtype} "
                        f"{tuple(images.shape)}")
    return np.ascontiguousarray(EMBEDDINGS[name](images, context), dtype=np.float32)


def embed_sets(name: str, image_sets: list[torch.Tensor], context: EmbeddingContext, *,
               pca_dim: int | None = None, seed: int = 0) -> list[np.ndarray]:
    """Unit-row embeddings of several image sets, comparable with one another.

    ``model`` features are centred on the mean of all sets together (post-ReLU features share
    one large common direction that would make every pair look alike); ``pca_dim`` (when
    smaller than the width) projects every set with one PCA fitted on at most 20,000 rows.
    """
    raw = [embed(name, images, context) for images in image_sets]
    if name in CENTRED:
        total = sum(len(r) for r in raw)
        mean = sum(r.sum(axis=0, dtype=np.float64) for r in raw) / max(total, 1)
        raw = [r - mean.astype(np.float32) for r in raw]
    width = raw[0].shape[1] if raw else 0
    if pca_dim and width > pca_dim and sum(len(r) for r in raw) > pca_dim:
        raw = _pca(raw, pca_dim, seed)
    return [normalise(r) for r in raw]


def _pca(raw: list[np.ndarray], dim: int, seed: int) -> list[np.ndarray]:
    import faiss

    stacked = np.concatenate(raw)
    rng = np.random.default_rng(seed)
    sample = stacked[rng.choice(len(stacked), min(len(stacked), 20_000), replace=False)]
    pca = faiss.PCAMatrix(stacked.shape[1], dim)
    pca.train(np.ascontiguousarray(sample, dtype=np.float32))
    return [pca.apply(np.ascontiguousarray(r, dtype=np.float32)) for r in raw]


def normalise(rows: np.ndarray) -> np.ndarray:
    """Unit L2 rows, float32, C-contiguous (what faiss takes); an all-zero row stays zero."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


@register("pixels")
def pixel_embedding(images: torch.Tensor, _context: EmbeddingContext) -> np.ndarray:
    """Raw pixels minus each image's mean (cosine = Pearson correlation of the pixels)."""
    flat = images.reshape(len(images), -1).float()
    return (flat - flat.mean(dim=1, keepdim=True)).numpy()


@register("thumbnail")
def thumbnail_embedding(images: torch.Tensor, _context: EmbeddingContext) -> np.ndarray:
    """Mirror-averaged, 8x8, per-channel standardised (see the module docstring)."""
    out = []
    for start in range(0, len(images), 4096):  # bounded memory on 50,000 images
        batch = images[start:start + 4096].float()
        symmetric = (batch + batch.flip(-1)) / 2
        small = F.adaptive_avg_pool2d(symmetric, THUMBNAIL_SIDE)
        mean = small.mean(dim=(2, 3), keepdim=True)
        std = small.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        out.append(((small - mean) / std).reshape(len(batch), -1))
    if not out:
        return np.zeros((0, images.shape[1] * THUMBNAIL_SIDE ** 2), dtype=np.float32)
    return torch.cat(out).numpy()


@register("spectrum")
def spectrum_embedding(images: torch.Tensor, _context: EmbeddingContext) -> np.ndarray:
    """Low-frequency Fourier magnitudes, flip-symmetrised (see the module docstring)."""
    out = []
    for start in range(0, len(images), 4096):
        batch = images[start:start + 4096].float()
        mean = batch.mean(dim=(2, 3), keepdim=True)
        std = batch.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        magnitude = torch.fft.fft2((batch - mean) / std).abs()
        # |F| of the mirror image is |F| at (u, -v): index -v mod W is flip then roll by one
        magnitude = (magnitude + magnitude.flip(-1).roll(1, -1)) / 2
        centred = torch.fft.fftshift(magnitude, dim=(-2, -1))
        h, w = centred.shape[-2:]
        keep_h, keep_w = min(SPECTRUM_HALF, h // 2), min(SPECTRUM_HALF, w // 2)
        window = centred[..., h // 2 - keep_h:h // 2 + keep_h, w // 2 - keep_w:w // 2 + keep_w]
        out.append(torch.log1p(window).reshape(len(batch), -1))
    if not out:
        return np.zeros((0, images.shape[1] * 4 * SPECTRUM_HALF ** 2), dtype=np.float32)
    return torch.cat(out).numpy()


@register("model")
def model_embedding(images: torch.Tensor, context: EmbeddingContext) -> np.ndarray:
    """A layer of the model, mirror-averaged when ``context.flip_average``."""
    from data_quality.features import layer_features

    assert context.loaded is not None  # checked by embed()
    return layer_features(context.loaded, images, context.layer, batch_size=context.batch_size,
                          flip_average=context.flip_average, progress=context.progress)
