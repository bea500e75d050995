"""Any data set the data layer reads, written in ImageNet64's NPZ batch layout.

ImageNet64 itself cannot be downloaded here, and the streaming reader needs a real multi-file
set to work on. The layout written is the one the downsampled-ImageNet release uses:
``train_data_batch_<n>.npz`` (n from 1) and ``val_data.npz``, each holding ``data`` as
``(N, 3*H*W)`` uint8 rows in channel-planar order (all red, then green, then blue) and
``labels`` counting from 1; ``classes.txt`` keeps the class names, one per line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from helpers.atomic_io import atomic_open, atomic_write_text
from helpers.datasets import load_split
from helpers.errors import UserError
from helpers.paths import check_location

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    files: list[Path]
    images: dict[str, int]  # per output split ("train", "val")


def write_npz_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """One batch file: ``images`` ``(n, 3, H, W)`` uint8, ``labels`` 0-based, written whole."""
    rows = np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1)
    with atomic_open(path, "wb") as handle:
        np.savez(handle, data=rows, labels=np.asarray(labels, dtype=np.int64) + 1)
    return path


def export_npz(dataset: str, out_dir: str | Path, *, train_split: str | None = "train",
               val_split: str | None = "test", per_file: int = 4000,
               data_root: str | Path = "data", force: bool = False,
               progress: bool = True, label_overrides: str | Path | None = None
               ) -> ExportResult:
    """Write ``train_split`` as numbered batch files and ``val_split`` as ``val_data.npz``.

    Raises UserError for an unknown data set or split, a bad ``per_file``, or an output folder
    that already holds batch files (unless ``force``).
    """
    if per_file < 1:
        raise UserError(f"--per-file must be at least 1, got {per_file}")
    if not train_split and not val_split:
        raise UserError("nothing to export: give --train-split and/or --val-split")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; give a folder for the batch files")
    check_location(out, folder=True)  # a read-only folder or a file above it: before reading
    present = sorted(out.glob("*.npz")) if out.is_dir() else []
    if present and not force:
        raise UserError(f"{out} already holds {len(present)} .npz files; pass --force to replace "
                        "them or choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    for stale in present:  # --force: a smaller export must not leave old high-numbered batches
        stale.unlink()
    files: list[Path] = []
    counts: dict[str, int] = {}
    class_names: list[str] | None = None
    if train_split:
        split = load_split(dataset, train_split, data_root=data_root,
                           label_overrides=label_overrides)
        class_names = split.class_names
        images, labels = split.images.numpy(), split.labels.numpy()
        starts = range(0, len(labels), per_file)
        for number, start in enumerate(tqdm(starts, desc=f"writing {train_split} batches",
                                            unit="file", disable=not progress), start=1):
            files.append(write_npz_batch(out / f"train_data_batch_{number}.npz",
                                         images[start:start + per_file],
                                         labels[start:start + per_file]))
        counts["train"] = len(labels)
    if val_split:
        split = load_split(dataset, val_split, data_root=data_root,
                           label_overrides=label_overrides)
        if class_names is not None and split.class_names != class_names:
            raise UserError(f"{dataset} names its classes differently in {train_split} and "
                            f"{val_split}")
        class_names = split.class_names
        files.append(write_npz_batch(out / "val_data.npz", split.images.numpy(),
                                     split.labels.numpy()))
        counts["val"] = len(split.labels)
    atomic_write_text(out / "classes.txt", "\n".join(class_names or []) + "\n")
    log.info("exported %s to %s: %s in %d files", dataset, out,
             ", ".join(f"{n} {k}" for k, n in counts.items()), len(files))
    return ExportResult(files, counts)
