"""A class-balanced draw of images from any data set the data layer reads.

CIFAR-10 and ImageFolder splits are small enough to load whole (``load_split``, cached); an NPZ
split is streamed one batch file at a time (:mod:`helpers.npz_stream`) and reading stops once
every class has its quota. Either way the result carries each image's index in its split and
the data set's own class names, so every later record names its class without a second lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from helpers.datasets import load_split
from helpers.errors import UserError
from helpers.npz_batches import NpzBatchSet, read_batch_labels
from helpers.npz_stream import StreamStats, draw_balanced_npz
from helpers.sampling import select_balanced

log = logging.getLogger(__name__)


@dataclass
class DrawnImages:
    """Images ``(n, C, H, W)`` uint8 with labels ``(n,)`` and split indices ``(n,)``, sorted by
    index; ``class_names`` is the data set's whole list (index = class id)."""

    dataset: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    class_names: list[str]
    classes: list[int]
    per_class: int
    stream: StreamStats | None = None


def parse_class_list(value: str | Sequence[str] | None) -> list[str]:
    """``"0,1,2"`` or ``["0,1", "2"]`` -> ``["0", "1", "2"]`` (ids or names, resolved later)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def choose_classes(class_names: Sequence[str], *, num_classes: int | None = None,
                   target_classes: Sequence[str | int] | None = None,
                   seed: int = 0) -> list[int]:
    """The class ids to draw from, sorted.

    ``target_classes`` are ids or names of the data set; otherwise ``num_classes`` classes are
    picked at random with ``seed`` (the same seed, the same classes); otherwise all of them.
    """
    total = len(class_names)
    if target_classes:
        by_name = {name: i for i, name in enumerate(class_names)}
        chosen, unknown = [], []
        for item in target_classes:
            text = str(item).strip()
            if text.lstrip("-").isdigit() and 0 <= int(text) < total:
                chosen.append(int(text))
            elif text in by_name:
                chosen.append(by_name[text])
            else:
                unknown.append(text)
        if unknown:
            raise UserError(f"class(es) {', '.join(unknown)} not in this data set; it has class "
                            f"ids 0..{total - 1} ({_preview(class_names)})")
        return sorted(dict.fromkeys(chosen))
    if num_classes is not None:
        if not 1 <= num_classes <= total:
            raise UserError(f"--num-classes must be between 1 and {total} (the data set's "
                            f"classes), got {num_classes}")
        generator = torch.Generator().manual_seed(seed)
        return sorted(torch.randperm(total, generator=generator)[:num_classes].tolist())
    return list(range(total))


def draw_balanced(dataset: str, split: str, *, num_samples: int,
                  num_classes: int | None = None, target_classes: Sequence[str | int] | None = None,
                  seed: int = 0, data_root: str | Path = "data",
                  progress: bool = True, label_overrides: str | Path | None = None
                  ) -> DrawnImages:
    """``num_samples // K`` images of each of K classes, K given by the class options.

    Raises
    ------
    UserError
        Unknown data set or class, a quota below one image, or a class with too few images.
    """
    kind, _, argument = dataset.partition(":")
    if kind == "npz" and label_overrides is not None:
        raise UserError("--label-overrides is not applied to a streamed NPZ draw; export the "
                        "corrected data set first (export_npz_dataset.py --label-overrides)")
    if kind == "npz":
        if not argument:
            raise UserError("data set 'npz' needs a path: npz:<dir>")
        batch_set = NpzBatchSet(Path(argument), split)
        class_names = batch_set.class_names or _unnamed_classes(batch_set)
        classes = choose_classes(class_names, num_classes=num_classes,
                                 target_classes=target_classes, seed=seed)
        per_class = _quota(num_samples, classes)
        batch_set.class_names = class_names
        drawn = draw_balanced_npz(batch_set, per_class, classes, seed=seed, progress=progress)
        return DrawnImages(dataset, split, drawn.images, drawn.labels, drawn.indices,
                           class_names, classes, per_class, drawn.stats)
    whole = load_split(dataset, split, data_root=data_root, label_overrides=label_overrides)
    classes = choose_classes(whole.class_names, num_classes=num_classes,
                             target_classes=target_classes, seed=seed)
    per_class = _quota(num_samples, classes)
    selection = select_balanced(whole.labels, per_class, num_available=whole.num_classes,
                                target_classes=classes, seed=seed)
    if not selection.complete:
        short = sorted(selection.shortfall)
        absent = [c for c in short if selection.counts[c] == 0]
        which = absent or short
        names = ", ".join(f"{c} {whole.class_names[c]!r}" for c in which[:5])
        if absent:
            raise UserError(f"{len(absent)} requested classes have no image in {dataset} "
                            f"({split}): {names}")
        fewest = min(selection.counts[c] for c in short)
        raise UserError(f"{len(short)} classes have fewer than {per_class} images in {dataset} "
                        f"({split}): {names}; ask for at most {fewest} per class (--num-samples)")
    indices = torch.as_tensor(sorted(selection.indices), dtype=torch.long)
    log.info("balanced draw from %s (%s): %s", dataset, split,
             selection.summary(whole.class_names) if len(classes) <= 20 else
             f"{len(indices)} images, {per_class} from each of {len(classes)} classes")
    return DrawnImages(whole.dataset, split, whole.images[indices], whole.labels[indices],
                       indices, list(whole.class_names), classes, per_class)


def _quota(num_samples: int, classes: list[int]) -> int:
    per_class = num_samples // len(classes)
    if per_class < 1:
        raise UserError(f"--num-samples {num_samples} is fewer than the {len(classes)} classes "
                        "chosen; ask for at least one image per class")
    return per_class


def _unnamed_classes(batch_set: NpzBatchSet) -> list[str]:
    """Without classes.txt, the classes are 0..max label: read every file's labels (cheap)."""
    highest = max(int(read_batch_labels(path, None).max(initial=-1)) for path in batch_set.files)
    return [f"class_{i}" for i in range(highest + 1)]


def _preview(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(f"{i} {n}" for i, n in enumerate(names[:limit]))
    return shown + (", ..." if len(names) > limit else "")

