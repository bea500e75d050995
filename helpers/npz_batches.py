"""ImageNet64-style NPZ batch files: ``*_batch_<n>.npz`` with channel-planar ``data`` rows.

The downsampled-ImageNet releases store each split as numbered batch files whose ``data`` rows
are ``3*H*W`` bytes (all red, then green, then blue) and whose ``labels`` count from 1. Two
mistakes are easy and silent elsewhere: reading ``batch_10`` before ``batch_2`` (a string sort)
and keeping the labels 1-based. Here files are ordered by their number, gaps and duplicates are
errors, labels become 0-based, and the classes found are checked against the classes expected.

Split files are found as ``<dir>/<split>/*_batch_<n>.npz``, else ``<dir>/<split>*_batch_<n>.npz``,
else a single ``<dir>/<split>_data.npz`` (ImageNet64's ``val_data.npz``). Class names come from
``classes.txt`` (one name per line) or ImageNet's ``map_clsloc.txt`` (``wnid index name``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from helpers.errors import NotFoundError, UserError
from helpers.npz_checks import (
    READ_ERRORS,
    checked_labels,
    checked_pixels,
    parse_clsloc,
    read_text_lines,
)

BATCH_NUMBER = re.compile(r"_batch_(\d+)\.npz$")


class NpzBatchSet:
    """The ordered, validated batch files of one split, read whole or one file at a time."""

    def __init__(self, root: Path, split: str, *, expected_num_classes: int | None = None):
        self.root = Path(root)
        self.split = split
        if not self.root.is_dir():
            raise NotFoundError(f"{self.root} is not a folder; npz:<dir> needs a folder of "
                                "*_batch_<n>.npz files")
        self.files = find_batch_files(self.root, split)
        self.class_names = read_class_names(self.root)
        if expected_num_classes is not None:
            if self.class_names and len(self.class_names) != expected_num_classes:
                raise UserError(f"{self.root} names {len(self.class_names)} classes but "
                                f"{expected_num_classes} were expected")
            self.expected_num_classes: int | None = expected_num_classes
        else:
            self.expected_num_classes = len(self.class_names) or None

    def iter_batches(self) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(first_index, images uint8 (n, 3, H, W), labels int64 0-based)`` per file."""
        offset, shape = 0, None
        for path in self.files:
            images, labels = read_batch_file(path, self.expected_num_classes)
            if shape is None:
                shape = images.shape[1:]
            elif images.shape[1:] != shape:
                raise UserError(f"{path} holds {tuple(images.shape[1:])} images but earlier files "
                                f"hold {tuple(shape)}")
            yield offset, images, labels
            offset += len(labels)

    @property
    def total_bytes(self) -> int:
        """Size of the split's files on disk: decides whether a whole-split cache is sensible."""
        return sum(path.stat().st_size for path in self.files)

    def describe_classes(self, classes: list[int], limit: int = 5) -> str:
        """``"999 'zebra'"``-style names for messages, the first ``limit`` of them."""
        def one(c: int) -> str:
            name = self.class_names[c] if c < len(self.class_names) else None
            return f"{c} {name!r}" if name else str(c)

        shown = ", ".join(one(c) for c in classes[:limit])
        return shown + (f" and {len(classes) - limit} more" if len(classes) > limit else "")

    def read_all(self) -> dict[str, torch.Tensor]:
        from tqdm import tqdm

        images, labels = [], []
        for _, batch_images, batch_labels in tqdm(self.iter_batches(), total=len(self.files),
                                                  desc=f"reading {self.split} batches",
                                                  unit="file", leave=False):
            images.append(batch_images)
            labels.append(batch_labels)
        all_labels = torch.cat(labels)
        present = torch.unique(all_labels).tolist()
        expected = self.expected_num_classes
        if expected is not None and len(present) != expected:
            raise UserError(f"{self.root} ({self.split}) holds {len(present)} distinct classes "
                            f"but {expected} are expected (missing: "
                            f"{self.describe_classes(sorted(set(range(expected)) - set(present)))}"
                            "); are batch files missing?")
        if not self.class_names:
            self.class_names = [f"class_{i}" for i in range(int(all_labels.max()) + 1)]
        return {"images": torch.cat(images), "labels": all_labels}


def find_batch_files(root: Path, split: str) -> list[Path]:
    """Batch files of ``split``, sorted by batch number, with gaps and duplicates refused."""
    candidates = sorted((root / split).glob("*_batch_*.npz")) if (root / split).is_dir() else []
    if not candidates:
        candidates = sorted(root.glob(f"{split}*_batch_*.npz"))
    if not candidates:
        single = [p for p in (root / f"{split}_data.npz", root / f"{split}.npz") if p.exists()]
        if single:
            return single[:1]
        raise NotFoundError(f"no {split} batch files in {root} (looked for "
                            f"{split}/*_batch_<n>.npz, {split}*_batch_<n>.npz and "
                            f"{split}_data.npz)")
    numbered: dict[int, Path] = {}
    for path in candidates:
        match = BATCH_NUMBER.search(path.name)
        if not match:
            raise UserError(f"{path.name} does not end in _batch_<number>.npz")
        number = int(match.group(1))
        if number in numbered:
            raise UserError(f"two files carry batch number {number}: {numbered[number].name} and "
                            f"{path.name}")
        numbered[number] = path
    numbers = sorted(numbered)
    first = min(numbers[0], 1)  # numbering starts at 1 (ImageNet64) or 0; batch_1 missing counts
    missing = sorted(set(range(first, numbers[-1] + 1)) - set(numbers))
    if missing:
        raise UserError(f"{split} batch files in {root} skip number(s) {missing}; a missing file "
                        "would shift every later image index")
    return [numbered[n] for n in numbers]


def read_batch_file(path: Path, expected_num_classes: int | None, *,
                    rows: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode one file: channel-planar rows to (n, 3, H, W), 1-based labels to 0-based.

    ``rows`` (positions in the file) keeps only those images, in that order: a streaming
    reader holds the file's pixels once while it copies out the few it needs.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "data" not in archive or "labels" not in archive:
                raise UserError(f"{path} lacks a 'data' or 'labels' array")
            raw_data, raw_labels = archive["data"], archive["labels"]
    except READ_ERRORS as error:
        raise UserError(f"{path} is not a readable .npz file ({error})") from None
    labels = _checked_labels(path, raw_labels, expected_num_classes)
    data = checked_pixels(path, raw_data)
    if len(data) != len(labels):
        raise UserError(f"{path}: 'data' must be (N, 3*H*W) with one label per row, got "
                        f"{data.shape} and {labels.shape}")
    side = math.isqrt(data.shape[1] // 3)
    if 3 * side * side != data.shape[1]:
        raise UserError(f"{path}: rows of {data.shape[1]} values are not 3*H*H pixels")
    if rows is not None:
        data, labels = data[rows], labels[rows]  # fancy indexing copies only the chosen rows
    # np.load hands back a fresh, writable array: torch can share it without another copy
    images = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, side, side))
    return images, torch.from_numpy(labels - 1)


def read_batch_labels(path: Path, expected_num_classes: int | None) -> np.ndarray:
    """Only the 0-based labels of one file: an ``.npz`` member is read on access, so the
    pixels stay on disk (a class-balanced draw looks at labels first)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "data" not in archive or "labels" not in archive:
                raise UserError(f"{path} lacks a 'data' or 'labels' array")
            raw_labels = archive["labels"]
    except READ_ERRORS as error:
        raise UserError(f"{path} is not a readable .npz file ({error})") from None
    return _checked_labels(path, raw_labels, expected_num_classes) - 1


def _checked_labels(path: Path, raw: np.ndarray, expected_num_classes: int | None) -> np.ndarray:
    """1-based whole-number labels as int64, refused when 0 appears or one exceeds the count."""
    labels = checked_labels(path, raw)
    if len(labels) and labels.min() < 1:
        raise UserError(f"{path} has label {labels.min()}; NPZ batch labels must be 1-based "
                        "(1..num_classes)")
    if expected_num_classes is not None and len(labels) and labels.max() > expected_num_classes:
        raise UserError(f"{path} has label {labels.max()} but only {expected_num_classes} classes "
                        "exist (labels are 1-based)")
    return labels


def read_class_names(root: Path) -> list[str]:
    classes_txt, clsloc = root / "classes.txt", root / "map_clsloc.txt"
    if classes_txt.exists():
        return [line.strip() for line in read_text_lines(classes_txt) if line.strip()]
    if clsloc.exists():
        return [name for _, name in sorted(parse_clsloc(clsloc))]
    return []
