"""On-disk cache of decoded tensors, keyed by what they were decoded from.

Decoding an ImageFolder or NPZ tree takes much longer than reading a tensor file, so decoded
splits are kept under ``data/cache/``. The key covers the loader, its format version and every
source file's path, size and modification time: a changed source is read again, never served
stale.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from helpers.atomic_io import atomic_torch_save

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_cache_dir() -> Path:
    """``$ALEXNET_REPAIR_CACHE`` if set, else ``data/cache`` in the project."""
    return Path(os.environ.get("ALEXNET_REPAIR_CACHE", PROJECT_ROOT / "data" / "cache"))


def source_fingerprint(files: Iterable[Path], *extra: object) -> str:
    """A short hash of file identities (path, size, mtime) and any extra key parts."""
    digest = hashlib.sha256()
    for part in extra:
        digest.update(repr(part).encode())
    for file in sorted(Path(f).resolve() for f in files):
        stat = file.stat()
        digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cached_tensors(
    name: str,
    fingerprint: str,
    build: Callable[[], dict[str, Any]],
    *,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Return ``build()``'s result, from ``<cache_dir>/<name>-<fingerprint>.pt`` when present."""
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    path = cache_dir / f"{name}-{fingerprint}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True)
        except Exception as error:  # a damaged cache file is rebuilt, not fatal
            log.warning("cache file %s is unreadable (%s); rebuilding it", path, error)
    value = build()
    try:
        atomic_torch_save(value, path)
    except OSError as error:  # a read-only cache folder only costs time
        log.warning("could not write cache file %s (%s)", path, error)
    return value
