"""A class-balanced draw from NPZ batch files, one file at a time, stopping once quotas are met.

ImageNet64's training split is 1.28 M images in ten files of about 1.2 GB; loading it whole
(``load_split``) takes 16 GB of memory. A balanced draw needs far less: it reads each file's
labels first (an ``.npz`` member is read only when asked for), decides which rows it takes, and
reads that file's pixels only when it takes any, keeping just those rows. Files are visited in
numeric order and rows within a file in a seeded random order, so the draw is reproducible and
the same seed gives the same images. Nothing is held beyond one file's pixels plus the images
chosen so far.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from helpers.errors import UserError
from helpers.npz_batches import NpzBatchSet, read_batch_file, read_batch_labels
from helpers.sampling import BalancedSelection, ClassBalancedSelector

log = logging.getLogger(__name__)


@dataclass
class StreamStats:
    """What the draw read: files whose labels were read, files whose pixels were read."""

    files_total: int
    files_scanned: int = 0  # labels read
    files_decoded: int = 0  # pixels read (only files that gave at least one image)
    images_scanned: int = 0

    @property
    def stopped_early(self) -> bool:
        return self.files_scanned < self.files_total

    def to_dict(self) -> dict[str, int | bool]:
        return {"files_total": self.files_total, "files_scanned": self.files_scanned,
                "files_decoded": self.files_decoded, "images_scanned": self.images_scanned,
                "stopped_early": self.stopped_early}


@dataclass
class BalancedDraw:
    """The drawn images ``(n, 3, H, W)`` uint8, their 0-based labels and split indices.

    Rows are sorted by index in the split (the order they have on disk).
    """

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    selection: BalancedSelection
    stats: StreamStats | None = None
    notes: list[str] = field(default_factory=list)


def draw_balanced_npz(batch_set: NpzBatchSet, per_class: int, classes: Sequence[int], *,
                      seed: int = 0, progress: bool = True) -> BalancedDraw:
    """Take ``per_class`` images of each class in ``classes`` from the split's batch files.

    Raises
    ------
    UserError
        A class has no image at all in the split (named in the message), or fewer than
        ``per_class`` images (the shortfall is named, with how to ask for less).
    """
    selector = ClassBalancedSelector(per_class, classes)
    generator = torch.Generator().manual_seed(seed)
    stats = StreamStats(files_total=len(batch_set.files))
    parts: list[tuple[torch.Tensor, torch.Tensor, np.ndarray]] = []
    seen: set[int] = set()
    offset, shape = 0, None
    files = tqdm(batch_set.files, desc=f"balanced draw from {batch_set.split}", unit="file",
                 disable=not progress, leave=False)
    done = False
    for path in files:
        labels = read_batch_labels(path, batch_set.expected_num_classes)
        stats.files_scanned += 1
        stats.images_scanned += len(labels)
        seen.update(np.unique(labels).tolist())
        order = torch.randperm(len(labels), generator=generator).numpy()
        before = len(selector.indices)
        done = selector.offer((offset + order).tolist(), labels[order].tolist())
        taken = np.sort(np.asarray(selector.indices[before:], dtype=np.int64) - offset)
        if len(taken):
            images, file_labels = read_batch_file(path, batch_set.expected_num_classes,
                                                  rows=taken)
            stats.files_decoded += 1
            if shape is None:
                shape = images.shape[1:]
            elif images.shape[1:] != shape:
                raise UserError(f"{path} holds {tuple(images.shape[1:])} images but earlier "
                                f"files hold {tuple(shape)}")
            parts.append((images, file_labels, taken + offset))
        log.debug("%s: %d images taken, %d in total", path.name, len(taken),
                  len(selector.indices))
        offset += len(labels)
        if done:
            break
    selection = selector.result(exhausted=not done)
    if not done:
        _refuse_shortfall(batch_set, selection, seen)
    log.info("balanced draw: %d images from %d of %d files (pixels read from %d)",
             len(selection.indices), stats.files_scanned, stats.files_total, stats.files_decoded)
    if not parts:
        raise UserError(f"no images drawn from {batch_set.root} ({batch_set.split})")
    return BalancedDraw(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
                        torch.from_numpy(np.concatenate([p[2] for p in parts])), selection,
                        stats)


def _refuse_shortfall(batch_set: NpzBatchSet, selection: BalancedSelection,
                      seen: set[int]) -> None:
    absent = sorted(c for c in selection.classes if c not in seen)
    if absent:
        raise UserError(f"{len(absent)} of the {len(selection.classes)} requested classes have no "
                        f"image in {batch_set.root} ({batch_set.split}): "
                        f"{batch_set.describe_classes(absent)}; are batch files missing?")
    short = sorted(selection.shortfall)
    fewest = min(selection.counts[c] for c in short)
    raise UserError(f"{len(short)} classes have fewer than {selection.per_class} images in "
                    f"{batch_set.root} ({batch_set.split}): {batch_set.describe_classes(short)}; "
                    f"ask for at most {fewest} per class (--num-samples)")
