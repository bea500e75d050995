"""The training side of TracIn, computed once per checkpoint and kept on disk.

One file per (checkpoint, data, layer): its name is a hash of the checkpoint file's content,
the split's content digest (pixels and labels, so label overrides count), the chosen indices
and the format version, so a retrained checkpoint or another data set is never served stale.
Files are written atomically; a killed run leaves whole files for the checkpoints it finished,
which is what makes a run resume per checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch

from helpers.atomic_io import atomic_torch_save
from helpers.cache import default_cache_dir
from helpers.errors import UserError
from influence.factors import Factors

log = logging.getLogger(__name__)

FORMAT = "tracin-last-layer-factors/1"


def default_factor_dir() -> Path:
    return default_cache_dir() / "tracin"


def indices_digest(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.to(torch.int64).contiguous().numpy().tobytes()).hexdigest()[:16]


class FactorCache:
    """``get`` / ``put`` of :class:`Factors` by key parts; ``None`` folder disables it."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None

    def key(self, checkpoint_fingerprint: str, data_digest: str, index_digest: str,
            layer: str) -> str:
        parts = "|".join((FORMAT, checkpoint_fingerprint, data_digest, index_digest, layer))
        return hashlib.sha256(parts.encode()).hexdigest()[:24]

    def path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"factors-{key}.pt"

    def get(self, key: str) -> Factors | None:
        path = self.path(key)
        if path is None or not path.exists():
            return None
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            return Factors.from_dict(data)
        except Exception as error:  # a damaged cache file costs a recomputation, no more
            log.warning("ignoring unreadable cache file %s (%s)", path, error)
            return None

    def put(self, key: str, factors: Factors) -> None:
        path = self.path(key)
        if path is None:
            return
        try:
            atomic_torch_save({k: v.contiguous() for k, v in factors.as_dict().items()}, path)
        except (OSError, UserError) as error:  # a full or read-only cache folder costs time
            log.warning("could not write cache file %s (%s)", path, error)
