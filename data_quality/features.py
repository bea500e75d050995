"""Frozen features of one model layer for a whole split, computed once and cached on disk.

The probe that gives training images out-of-sample probabilities and the model-layer
embeddings of the duplicate search both need a layer's output for every image (50,000 AlexNet
forward passes, minutes on two cores), so the output is kept under ``data/cache`` keyed by the
checkpoint file, the layer, the pixels and the flip option. Labels are not part of the key:
corrected labels (``--label-overrides``) do not change what the model sees.

Recording itself is :func:`activations.layers.record_layers`, the same hooks the activation
map uses.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from activations.layers import record_layers, resolve_layers
from helpers.cache import cached_tensors, source_fingerprint
from helpers.errors import UserError
from model_classes.checkpoints import LoadedModel

log = logging.getLogger(__name__)


def pixel_digest(images: torch.Tensor) -> str:
    """A hash of the pixels alone (labels may be corrected without changing features)."""
    digest = hashlib.sha256(repr(tuple(images.shape)).encode())
    digest.update(images.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def layer_features(loaded: LoadedModel, images: torch.Tensor, layer: str, *,
                   batch_size: int = 250, flip_average: bool = False, cache: bool = True,
                   progress: bool = True) -> np.ndarray:
    """``(N, D)`` float32 outputs of ``layer`` (``penultimate`` allowed) for uint8 ``images``.

    ``flip_average`` averages the features of each image and its mirror image, which makes
    them blind to horizontal flips (twice the forward passes).

    Raises
    ------
    UserError
        An unknown layer, or a model that cannot run on these images.
    """
    (name,) = resolve_layers(loaded.model, [layer])

    def compute() -> dict[str, torch.Tensor]:
        values = _record(loaded, images, name, batch_size, progress)
        if flip_average:
            mirrored = _record(loaded, images.flip(-1), name, batch_size, progress)
            values = (values + mirrored) / 2
        return {"features": torch.from_numpy(values)}

    if not cache or loaded.path is None:
        return compute()["features"].numpy()
    fingerprint = source_fingerprint([Path(loaded.path)], "features-v1", name, flip_average,
                                     pixel_digest(images))
    safe = name.replace(".", "_").replace("/", "_")
    return cached_tensors(f"features-{safe}", fingerprint, compute)["features"].numpy()


def _record(loaded: LoadedModel, images: torch.Tensor, name: str, batch_size: int,
            progress: bool) -> np.ndarray:
    try:
        return record_layers(loaded.model, images, [name], batch_size=batch_size,
                             progress=progress).activations[name]
    except RuntimeError as error:
        first = (str(error).splitlines() or [""])[0][:200]
        raise UserError(f"the model cannot run on images of shape {tuple(images.shape[1:])} "
                        f"({first})") from None
