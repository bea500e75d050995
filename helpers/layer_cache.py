"""The inputs of one layer over a set of images, computed once and kept on disk.

A repair changes one Linear layer. Everything below it is the same in the base model, in the
repaired model and in every other repair of that layer, so the forward pass through the
convolutions (nearly all of the cost) is needed once per model and image set: the before
accuracy is the cached inputs through the top layers, the after accuracy the same inputs
through the changed layer and those above it, and the reference sample's statistics come from
the same kind of cache.

**Key.** A hash of the parameters and buffers (and the type and settings) of every module that
runs *before* the layer, the layer's name and the pixels' hash. The changed layer and those
above it are not in the key, so repairing the last layer leaves the cache of its inputs valid;
a change below it, other images or another layer is a different key and is computed afresh.
Images are taken as the model takes them (uint8 divided by 255, or float in [0, 1]); the
model's own first module resizes and normalises them, and its settings are in the key.

**Exactness.** The inputs are computed in batches of :data:`BATCH_SIZE` images in order, the
batching of :func:`helpers.inference.predict_logits`, so the top layers see the same tensors
as in a plain forward pass (tests compare the two on a tiny and on the real model).

**Storage.** ``<cache>/layer_inputs/<key>.pt`` (float32), written whole or not at all; a file
that is read is touched, and after each write the least recently used files are removed until
the folder is under its cap (:data:`DEFAULT_CAP_BYTES`, or ``ALEXNET_REPAIR_LAYER_CACHE_BYTES``;
``0`` keeps nothing on disk).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from helpers.atomic_io import atomic_torch_save
from helpers.cache import default_cache_dir
from helpers.devices import model_device

log = logging.getLogger(__name__)

FORMAT = "layer-inputs-v1"
FOLDER = "layer_inputs"
BATCH_SIZE = 500  # helpers.inference.predict_logits' batch: the same tensors reach the top
DEFAULT_CAP_BYTES = 2 * 1024 ** 3
CAP_VARIABLE = "ALEXNET_REPAIR_LAYER_CACHE_BYTES"


def prefix_digest(model: nn.Module, layer_name: str) -> str:
    """A hash of everything that decides the inputs of ``layer_name``: the type, settings,
    parameters and buffers of each module that runs before it.

    In an ``nn.Sequential`` tree the modules listed before the layer are exactly those that run
    before it; for any other model every module but the layer counts (only an output layer can
    be repaired there).
    """
    modules = dict(model.named_modules())
    if layer_name not in modules:
        raise KeyError(layer_name)
    sequential = isinstance(model, nn.Sequential)
    digest = hashlib.sha256(f"{FORMAT}|{layer_name}|{type(model).__name__}".encode())
    for name, module in model.named_modules():
        if name == layer_name or name.startswith(f"{layer_name}."):
            if sequential:
                break
            continue
        digest.update(f"|{name}:{type(module).__name__}({module.extra_repr()})".encode())
        tensors = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        for tensor_name, tensor in tensors:
            data = tensor.detach().cpu().contiguous()
            digest.update(f"|{tensor_name}:{data.dtype}:{tuple(data.shape)}".encode())
            digest.update(data.view(-1).view(torch.uint8).numpy().tobytes()
                          if data.numel() else b"")
    return digest.hexdigest()[:24]


def pixels_digest(images: torch.Tensor) -> str:
    """A hash of the images' shape, type and values (names and paths are not enough: two data
    roots can both hold ``cifar10/test`` with other pixels)."""
    data = images.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{data.dtype}|{tuple(data.shape)}".encode())
    digest.update(data.view(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()[:24]


@torch.inference_mode()
def layer_inputs(model: nn.Module, layer_name: str, images: torch.Tensor, *,
                 progress: str | bool = False) -> torch.Tensor:
    """Inputs ``(N, in_features)`` (float32, CPU) of ``layer_name`` for images ``(N, C, H, W)``
    (uint8 or float in [0, 1]), batch by batch as a plain forward pass runs them."""
    layer = dict(model.named_modules())[layer_name]
    device = model_device(model)
    captured: list[torch.Tensor] = []

    def keep(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        captured.append(inputs[0].flatten(1).float().cpu())

    handle = layer.register_forward_hook(keep)
    model.eval()
    starts = range(0, len(images), BATCH_SIZE)
    if progress:
        starts = tqdm(starts, desc=progress if isinstance(progress, str) else "layer inputs",
                      unit="batch", leave=False)
    try:
        for start in starts:
            batch = images[start:start + BATCH_SIZE].to(device)
            if batch.dtype == torch.uint8:
                batch = batch.float().div_(255.0)
            model(batch)
    finally:
        handle.remove()
    if not captured:
        return torch.empty(0, getattr(layer, "in_features", 0))
    return torch.cat(captured)


class LayerInputCache:
    """:func:`layer_inputs`, on disk by (modules below the layer, layer, pixels); see the module
    doc for the key, the exactness and the cap."""

    def __init__(self, folder: str | os.PathLike | None = None, *,
                 cap_bytes: int | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir() / FOLDER
        self.cap_bytes = cap_bytes if cap_bytes is not None else _cap_from_environment()

    def path(self, model: nn.Module, layer_name: str, images_key: str) -> Path:
        return self.folder / f"{prefix_digest(model, layer_name)}-{images_key}.pt"

    def inputs(self, model: nn.Module, layer_name: str, images: torch.Tensor, *,
               images_key: str | None = None, progress: str | bool = False) -> torch.Tensor:
        """The inputs of ``layer_name`` for ``images``: read when cached, else computed once.

        ``images_key`` replaces the hash of the pixels when the caller already has a stable
        name for them (a hash of the split plus the chosen indices).
        """
        path = self.path(model, layer_name, images_key or pixels_digest(images))
        cached = self._read(path, len(images))
        if cached is not None:
            return cached
        inputs = layer_inputs(model, layer_name, images, progress=progress)
        self._write(path, inputs)
        return inputs

    def _read(self, path: Path, rows: int) -> torch.Tensor | None:
        try:
            stored = torch.load(path, weights_only=True)
        except FileNotFoundError:
            return None
        except Exception as error:  # a damaged file is recomputed, never fatal
            log.warning("layer-input cache %s is unreadable (%s); recomputing it", path, error)
            return None
        inputs = stored.get("inputs") if isinstance(stored, dict) else None
        if not isinstance(inputs, torch.Tensor) or len(inputs) != rows:
            log.warning("layer-input cache %s does not match its key; recomputing it", path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return inputs

    def _write(self, path: Path, inputs: torch.Tensor) -> None:
        size = inputs.numel() * inputs.element_size()
        if size > self.cap_bytes:
            log.info("layer inputs of %.0f MB exceed the cache's cap of %.0f MB; not kept",
                     size / 1e6, self.cap_bytes / 1e6)
            return
        try:
            atomic_torch_save({"format": FORMAT, "inputs": inputs}, path)
        except OSError as error:  # a read-only or full cache folder only costs time
            log.warning("could not write layer-input cache %s (%s)", path, error)
            return
        self.evict(keep=path)

    def evict(self, *, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used files until the folder is within its cap."""
        entries = []
        for file in self.folder.glob("*.pt"):
            with contextlib.suppress(FileNotFoundError):
                stat = file.stat()
                entries.append((stat.st_mtime_ns, stat.st_size, file))
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, file in sorted(entries):
            if total <= self.cap_bytes:
                break
            if keep is not None and file == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
                removed.append(file)
            total -= size
        if removed:
            log.info("layer-input cache over %.0f MB: removed %d least recently used file(s)",
                     self.cap_bytes / 1e6, len(removed))
        return removed


def indices_key(images_key: str, indices: torch.Tensor | np.ndarray) -> str:
    """A key for a subset of a set of images: the set's key and the chosen positions."""
    positions = np.ascontiguousarray(np.asarray(indices, dtype=np.int64))
    digest = hashlib.sha256(f"{images_key}|{len(positions)}|".encode())
    digest.update(positions.tobytes())
    return digest.hexdigest()[:24]


def _cap_from_environment() -> int:
    text = os.environ.get(CAP_VARIABLE, "").strip()
    if not text:
        return DEFAULT_CAP_BYTES
    try:
        return max(0, int(text))
    except ValueError:
        log.warning("%s=%r is not a whole number of bytes; using %d", CAP_VARIABLE, text,
                    DEFAULT_CAP_BYTES)
        return DEFAULT_CAP_BYTES
