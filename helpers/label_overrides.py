"""Corrected labels from a reviewer, applied where images are loaded so every tool sees them.

A label-override file is what the review page exports (``/error-review``, "export"): decision
rows keyed by (data set, split, index). Rows whose ``decision`` is ``relabel`` give the image a
new class; other decisions (``fixed``, ``ignored``) change no label. A hand-written file may
leave the ``decision`` column out, and then every row is a relabel. Two forms are read:

* JSON: ``{"decisions": [{"dataset", "split", "image_idx", "decision", "new_class",
  "new_label"}, ...]}`` (``index`` is accepted for ``image_idx``);
* CSV with the same columns.

The data layer (:func:`helpers.datasets.load_split` with ``label_overrides=``) applies them, so
training, evaluation, edit sets and repairs all read the corrected labels, and the split
remembers which file was in force (:attr:`ImageSplit.label_overrides`), so every report can
say so. Applying them is strict: an unknown class, an index outside the split or a file made
for another data set is the user's mistake, named in one line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.errors import NotFoundError, UserError

RELABEL = "relabel"
DECISIONS = ("fixed", "ignored", RELABEL)


@dataclass(frozen=True)
class Override:
    """One corrected label: the image's key and its new class (by name, id or both)."""

    dataset: str
    split: str
    index: int
    new_class: str | None
    new_label: int | None


@dataclass(frozen=True)
class LabelOverrides:
    """The relabel rows of one file, with the file's hash (what a report records)."""

    path: Path
    sha256: str
    overrides: tuple[Override, ...]

    @classmethod
    def read(cls, path: str | Path) -> LabelOverrides:
        """Parse an exported decisions file (JSON or CSV); see the module docstring."""
        path = Path(path)
        data = _read_bytes(path, "label-override file")
        rows = parse_decision_rows(data, path)
        overrides = []
        for number, row in enumerate(rows, 1):
            decision = str(row.get("decision") or RELABEL).strip()
            if decision not in DECISIONS:
                raise UserError(f"{path}: row {number} has decision {decision!r}; use one of "
                                f"{', '.join(DECISIONS)}")
            if decision != RELABEL:
                continue
            key = row_key(row, path, number)
            new_class = row.get("new_class")
            new_class = str(new_class).strip() if new_class not in (None, "") else None
            new_label = _optional_int(row.get("new_label"), path, number, "new_label")
            if new_class is None and new_label is None:
                raise UserError(f"{path}: row {number} is a relabel without new_class or "
                                "new_label")
            overrides.append(Override(*key, new_class, new_label))
        return cls(path, hashlib.sha256(data).hexdigest(), tuple(overrides))

    def describe(self, applied: int | None = None) -> dict[str, Any]:
        """What a report records about the overrides in force."""
        info: dict[str, Any] = {"file": str(self.path), "sha256": self.sha256,
                                "relabels_in_file": len(self.overrides)}
        if applied is not None:
            info["applied"] = applied
        return info

    def check_dataset(self, dataset: str) -> None:
        """Refuse a file whose relabels all name other data sets (a mix-up, not a choice)."""
        datasets = {o.dataset for o in self.overrides}
        if self.overrides and dataset not in datasets:
            raise UserError(f"{self.path} holds label overrides for data set "
                            f"{', '.join(sorted(datasets))}, not {dataset}; pass the file "
                            "exported for this data set")

    def labels_for(self, dataset: str, split: str, num_images: int,
                   class_names: list[str]) -> dict[int, int]:
        """``{index: new label}`` for the images of ``dataset``/``split``.

        Raises
        ------
        UserError
            The file names only other data sets, an unknown class, a class id outside the
            data set, an index outside the split, or two different labels for one image.
        """
        self.check_dataset(dataset)
        by_name = {name: i for i, name in enumerate(class_names)}
        result: dict[int, int] = {}
        for o in self.overrides:
            if o.dataset != dataset or o.split != split:
                continue
            label = _resolve_class(o, by_name, class_names, self.path)
            if not 0 <= o.index < num_images:
                raise UserError(f"{self.path}: image index {o.index} is outside "
                                f"{dataset}/{split} (0..{num_images - 1}); was the file made "
                                "for another copy of the data set?")
            if result.get(o.index, label) != label:
                raise UserError(f"{self.path}: image {dataset}/{split}/{o.index} is relabelled "
                                f"twice, as {class_names[result[o.index]]} and "
                                f"{class_names[label]}")
            result[o.index] = label
        return result


def _resolve_class(o: Override, by_name: dict[str, int], class_names: list[str],
                   path: Path) -> int:
    shown = ", ".join(class_names[:20]) + (", ..." if len(class_names) > 20 else "")
    label = None
    if o.new_class is not None:
        if o.new_class not in by_name:
            raise UserError(f"{path}: unknown class {o.new_class!r} for image "
                            f"{o.dataset}/{o.split}/{o.index}; classes are {shown}")
        label = by_name[o.new_class]
    if o.new_label is not None:
        if not 0 <= o.new_label < len(class_names):
            raise UserError(f"{path}: class id {o.new_label} for image "
                            f"{o.dataset}/{o.split}/{o.index} is outside 0..{len(class_names) - 1}")
        if label is not None and label != o.new_label:
            raise UserError(f"{path}: image {o.dataset}/{o.split}/{o.index} says new_class "
                            f"{o.new_class!r} but new_label {o.new_label} "
                            f"({class_names[o.new_label]})")
        label = o.new_label
    return label  # type: ignore[return-value]


# ------------------------------------------------------------------ reading decision files


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.exists():
        raise NotFoundError(f"{what} {path} not found")
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give the exported .json or .csv file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {what} {path} ({error.strerror or error})") from None


def parse_decision_rows(data: bytes, path: Path) -> list[dict[str, Any]]:
    """Rows of an exported decisions file: JSON (``{"decisions": [...]}`` or a list) or CSV."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file (expected the exported JSON or "
                        "CSV)") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text, parse_constant=_refuse_constant)
        except (json.JSONDecodeError, ValueError) as error:
            raise UserError(f"{path} is not valid JSON ({error})") from None
        rows = document.get("decisions") if isinstance(document, dict) else document
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UserError(f"{path}: expected a JSON list of decision rows or "
                            "{\"decisions\": [...]}")
        return rows
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"dataset", "split"} <= set(reader.fieldnames):
        raise UserError(f"{path}: a CSV needs the columns dataset, split, image_idx and "
                        "new_class (or new_label)")
    return list(reader)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this file may hold")


def row_key(row: dict[str, Any], path: Path, number: int) -> tuple[str, str, int]:
    """(data set, split, index) of a decision or report row, checked."""
    dataset, split = row.get("dataset"), row.get("split")
    if not isinstance(dataset, str) or not dataset or not isinstance(split, str) or not split:
        raise UserError(f"{path}: row {number} lacks its dataset and split")
    raw = row.get("image_idx", row.get("index"))
    index = _optional_int(raw, path, number, "image_idx")
    if index is None:
        raise UserError(f"{path}: row {number} lacks image_idx")
    return dataset, split, index


def _optional_int(value: Any, path: Path, number: int, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise UserError(f"{path}: row {number} has {name} {value!r}; expected a whole number")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise UserError(f"{path}: row {number} has {name} {value!r}; expected a whole number")
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 18:
        raise UserError(f"{path}: row {number} has {name} {text[:20]!r}; expected a whole "
                        "number")
    return int(text)
