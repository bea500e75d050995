"""An activation set on disk, replaced whole: ``data/activations/<name>/``.

A set is a folder of ``manifest.json`` (model hash, data set, settings, layers, embeddings),
``metadata.csv`` (one row per image), ``images.npy`` (the images, ``(N, C, H, W)`` uint8, from
which the map draws its thumbnails), ``activations_<layer>.npy`` per layer and, once embedded,
``embedding_<layer>.npy`` (``(N, 2)``).

Re-extracting under a name must never leave a mix of old and new files, or half a set when the
run is killed (the activations of one model beside the metadata of another are wrong without
looking wrong). So ``<name>`` is a symbolic link to a complete version folder,
``.versions/<name>/<stamp>/``: a new version is written beside the old one, and one
``os.replace`` of the link switches readers over. A killed run leaves a ``.partial`` folder that
the next write under that name removes; the old set stays readable throughout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.atomic_io import atomic_write_json
from helpers.errors import NotFoundError, UserError

log = logging.getLogger(__name__)

FORMAT = "alexnet-repair-activations/1"
DEFAULT_ROOT = Path("data/activations")
VERSIONS = ".versions"
PARTIAL = ".partial"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
METADATA_COLUMNS = ("position", "index", "class_id", "class_name", "dataset", "split",
                    "prediction", "prediction_name", "confidence", "correct")


def check_name(name: str) -> str:
    """A set name is one plain folder name: no path, no leading dot, no spaces."""
    if not NAME_PATTERN.match(name or "") or name in (".", ".."):
        raise UserError(f"activation set name {name!r} is not a plain folder name; use letters, "
                        "digits, '.', '-' and '_' (no '/' or leading dot), e.g. cifar10_test")
    return name


def layer_file(layer: str) -> str:
    return f"activations_{layer}.npy"


def embedding_file(layer: str) -> str:
    return f"embedding_{layer}.npy"


def list_sets(root: str | Path = DEFAULT_ROOT) -> list[str]:
    """Names of the complete sets under ``root`` (those with a manifest), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if not p.name.startswith(".") and (p / "manifest.json").is_file())


@dataclass
class ActivationSet:
    """One complete version of a set, read lazily (arrays are memory-mapped)."""

    name: str
    path: Path  # the resolved version folder: stays consistent if the link is switched
    manifest: dict[str, Any]

    @classmethod
    def open(cls, name: str, root: str | Path = DEFAULT_ROOT) -> ActivationSet:
        check_name(name)
        link = Path(root) / name
        manifest_path = link / "manifest.json"
        if not manifest_path.is_file():
            known = list_sets(root)
            raise NotFoundError(f"no activation set {name!r} in {root}; "
                                + (f"sets there: {', '.join(known)}" if known else
                                   "make one with `uv run python extract_activations.py`"))
        path = link.resolve()
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"{manifest_path} is unreadable ({error})") from None
        if manifest.get("format") != FORMAT:
            raise UserError(f"{manifest_path} is not an activation-set manifest ({FORMAT})")
        return cls(name, path, manifest)

    @property
    def layers(self) -> list[str]:
        return list(self.manifest.get("layers", {}))

    @property
    def embedded_layers(self) -> list[str]:
        return [layer for layer in self.manifest.get("embeddings", {}) if layer in self.layers]

    @property
    def tag(self) -> str:
        """Changes whenever the version or its manifest does (cache keys, ETags)."""
        stat = (self.path / "manifest.json").stat()
        return f"{self.path.name}-{stat.st_mtime_ns:x}"

    def check_layer(self, layer: str) -> str:
        if layer not in self.layers:
            raise NotFoundError(f"activation set {self.name!r} has no layer {layer!r}; it has "
                                f"{', '.join(self.layers)}")
        return layer

    def metadata(self) -> pd.DataFrame:
        """One row per image; class names stay strings even when they look like NA or 1."""
        return pd.read_csv(self.path / "metadata.csv", keep_default_na=False,
                           dtype={"class_name": str, "prediction_name": str})

    def activations(self, layer: str) -> np.ndarray:
        return np.load(self.path / layer_file(self.check_layer(layer)), mmap_mode="r")

    def images(self) -> np.ndarray:
        return np.load(self.path / "images.npy", mmap_mode="r")

    def embedding(self, layer: str) -> np.ndarray | None:
        file = self.path / embedding_file(self.check_layer(layer))
        return np.load(file) if file.is_file() else None

    def save_embedding(self, layer: str, coordinates: np.ndarray,
                       settings: dict[str, Any]) -> Path:
        """Write ``(N, 2)`` coordinates, then record their settings in the manifest."""
        self.check_layer(layer)
        from helpers.atomic_io import atomic_open

        target = self.path / embedding_file(layer)
        with atomic_open(target, "wb") as handle:
            np.save(handle, np.asarray(coordinates, dtype=np.float32))
        self.manifest.setdefault("embeddings", {})[layer] = settings
        atomic_write_json(self.path / "manifest.json", self.manifest)
        return target


def existing(name: str, root: str | Path = DEFAULT_ROOT) -> bool:
    link = Path(root) / name
    return link.is_symlink() or link.exists()


@contextlib.contextmanager
def staged_set(name: str, root: str | Path = DEFAULT_ROOT, *, force: bool) -> Iterator[Path]:
    """A fresh folder to write a set into; on success it becomes ``<root>/<name>`` in one step.

    Raises UserError when the set exists and ``force`` is not set. On any failure (or a kill)
    the previous set is untouched.
    """
    check_name(name)
    root = Path(root)
    link = root / name
    if existing(name, root) and not force:
        raise UserError(f"activation set {link} already exists; pass --force to replace it or "
                        "choose another --name")
    versions = root / VERSIONS / name
    versions.mkdir(parents=True, exist_ok=True)
    for stale in versions.glob(f"*{PARTIAL}"):  # what a killed run left
        shutil.rmtree(stale, ignore_errors=True)
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    staging = versions / f"{stamp}{PARTIAL}"
    staging.mkdir()
    try:
        yield staging
        if existing(name, root) and not force:  # made by someone else meanwhile
            raise UserError(f"activation set {link} appeared while writing; pass --force")
        final = versions / stamp
        os.replace(staging, final)
        _switch(link, final, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in versions.iterdir():
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    log.info("activation set %s written (%s)", link, final)


def _switch(link: Path, target: Path, root: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new link renamed over the old one)."""
    if link.exists() and not link.is_symlink():
        # a plain folder (made by hand or an older layout): move it aside as a version first
        aside = root / VERSIONS / link.name / f"{time.strftime('%Y%m%dT%H%M%S')}-moved"
        os.replace(link, aside)
    temporary = root / f".{link.name}.link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(os.path.relpath(target, root), temporary)
    os.replace(temporary, link)


def write_metadata(folder: Path, rows: pd.DataFrame) -> None:
    missing = [c for c in METADATA_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"metadata lacks columns {missing}")
    rows.to_csv(folder / "metadata.csv", index=False)
