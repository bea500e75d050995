"""One decoded edit set as the pages see it: display rows, class names, a score, pixels.

Class names come from each record itself (``true_class``, ``predicted_class``), so a set keeps
the names it was made with; only a record without one falls back to the data set's class list
(the set's recorded ``class_names``, the built-in CIFAR-10 list, then the model's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from editset_helpers.io import EditSet
from editset_helpers.web.thumbnails import to_pixels
from helpers.datasets import CIFAR10_CLASSES
from helpers.errors import NotFoundError, UserError

# The per-image number a set is ranked by, most specific first: ``closest`` sets carry a
# margin, ``confident_wrong`` sets a confidence, and every generated set the probability of
# the predicted class. A key counts only when every record has a finite number under it.
SCORE_KEYS = ("margin", "confidence", "predicted_probability")
IDENTITY_KEYS = ("image_idx", "true_label", "predicted_label", "true_class", "predicted_class",
                 "type", "dataset", "split")


@dataclass(frozen=True)
class FileIdentity:
    """A file as it is now: a changed size or mtime means a different set."""

    path: Path
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        stat = path.stat()
        return cls(path, stat.st_size, stat.st_mtime_ns)

    @property
    def tag(self) -> str:
        """A short, stable token for HTTP ETags."""
        return f"{self.size:x}-{self.mtime_ns:x}"


@dataclass(frozen=True)
class ImageRow:
    """One image with the identity its record carries; ``position`` is its place in the set."""

    position: int
    image_idx: int | None
    true_label: int
    true_class: str
    predicted_label: int | None
    predicted_class: str | None
    score: float | None
    record: dict[str, Any]

    def extra_numbers(self) -> list[tuple[str, float]]:
        """The record's numeric fields beyond identity (confidence, margin, probabilities)."""
        return [(k, float(v)) for k, v in self.record.items()
                if k not in IDENTITY_KEYS and _is_number(v)]


@dataclass
class LoadedSet:
    """An edit set decoded once and kept for every request about it."""

    name: str
    identity: FileIdentity
    edit_set: EditSet
    pixels: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64
    rows: list[ImageRow]
    class_names: dict[int, str]  # every label the set mentions, and the data set's, in order
    score_key: str | None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def file(self) -> str:
        return self.identity.path.name

    def class_name(self, label: int) -> str:
        return self.class_names.get(label, f"class {label}")

    def row(self, position: int) -> ImageRow:
        if not 0 <= position < len(self.rows):
            raise NotFoundError(f"set {self.name!r} has no image {position}; its images are "
                                f"0..{len(self.rows) - 1}")
        return self.rows[position]


def build_loaded_set(name: str, identity: FileIdentity, edit_set: EditSet, *,
                     fallback_class_names: Sequence[str] | None = None) -> LoadedSet:
    """Rows, class names and score for a set (raises UserError for records it cannot show)."""
    fallback = _fallback_names(edit_set, fallback_class_names)
    labels = edit_set.labels.numpy().astype(np.int64)
    records = [_record(i, record) for i, record in enumerate(edit_set.metadata)]
    score_key = next((k for k in SCORE_KEYS
                      if records and all(_is_number(r.get(k)) for r in records)), None)
    names: dict[int, str] = dict(enumerate(fallback))
    own_names: dict[int, str] = {}  # the first name a record gives each label wins
    rows = []
    for position, (label, record) in enumerate(zip(labels.tolist(), records, strict=True)):
        guess = _as_label(record.get("predicted_label"), position)
        true_own = _own_name(record, "true", label)
        predicted_own = _own_name(record, "predicted", guess) if guess is not None else None
        for value, own in ((label, true_own), (guess, predicted_own)):
            if value is not None:
                names.setdefault(value, _name(fallback, value))
                if own:
                    own_names.setdefault(value, own)
        rows.append(ImageRow(
            position, _as_label(record.get("image_idx"), position), label,
            true_own or _name(fallback, label), guess,
            None if guess is None else predicted_own or _name(fallback, guess),
            float(record[score_key]) if score_key else None, record))
    names.update(own_names)
    return LoadedSet(name, identity, edit_set, to_pixels(edit_set.images), labels, rows,
                     dict(sorted(names.items())), score_key)


def json_safe(value: Any) -> Any:
    """Records as JSON can carry them: tensors to lists, NaN and infinities to null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, torch.Tensor | np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _record(position: int, record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise UserError(f"metadata record {position} is a {type(record).__name__}, not a dict")
    return json_safe(record)


def _as_label(value: Any, position: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise UserError(f"metadata record {position} has a non-integer label or index {value!r}")
    return int(value)


def _own_name(record: dict[str, Any], role: str, label: int) -> str | None:
    """The record's own class name, if it names this very label."""
    name = record.get(f"{role}_class")
    recorded_label = record.get(f"{role}_label")
    if name and (recorded_label is None or recorded_label == label):
        return str(name)
    return None


def _fallback_names(edit_set: EditSet, model_names: Sequence[str] | None) -> list[str]:
    recorded = edit_set.info.get("class_names")
    if isinstance(recorded, list) and recorded:
        return [str(n) for n in recorded]
    datasets = {r.get("dataset", edit_set.info.get("dataset")) for r in edit_set.metadata
                if isinstance(r, dict)}
    if datasets == {"cifar10"}:
        return list(CIFAR10_CLASSES)
    return list(model_names or [])


def _name(names: Sequence[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else f"class {label}"


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))
