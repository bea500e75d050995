"""What is in a folder of edit sets: sizes, score distributions, classes, files.

Works on every edit set in the common format, whatever made it. Scores come from the records:

* confidence: ``confidence`` when the set has it, else ``predicted_probability``;
* margin: ``margin`` when present, else ``predicted_probability - true_probability`` over the
  wrongly predicted images (for a right prediction the difference is 0 and says nothing).

A distribution is ``count, min, q1, median, q3, max`` with quartiles by linear interpolation
(pandas' and NumPy's default). A ``.pt`` that is not a readable edit set is listed as such,
with the reason, instead of stopping the analysis; so is a metadata JSON without its ``.pt``.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from editset_helpers.io import (
    DATASET_SUFFIX,
    METADATA_SUFFIX,
    EditSet,
    load_edit_set,
    metadata_path_for,
)
from helpers.errors import NotFoundError, UserError
from helpers.text_format import file_size, text_table

log = logging.getLogger(__name__)

QUANTILES = {"min": 0.0, "q1": 0.25, "median": 0.5, "q3": 0.75, "max": 1.0}
MISSING = "-"
_NUMBER = re.compile(r"-|-?\d+(\.\d+)?( [KM]?i?B)?")  # also sizes like 3.3 KiB


@dataclass
class Distribution:
    """Five-number summary of a score over ``count`` images."""

    count: int
    min: float
    q1: float
    median: float
    q3: float
    max: float

    @classmethod
    def of(cls, values: pd.Series) -> Distribution | None:
        values = pd.to_numeric(values, errors="coerce").dropna()
        if values.empty:
            return None
        q = values.quantile(list(QUANTILES.values()))
        return cls(len(values), *(float(v) for v in q))

    def short(self, digits: int = 4) -> str:
        return " / ".join(f"{getattr(self, k):.{digits}f}" for k in QUANTILES)


@dataclass
class EditSetSummary:
    """One readable edit set, described from its records and files."""

    label: str  # path relative to the analysed folder, without the dataset suffix
    name: str
    set_type: str
    num_samples: int
    pt_path: Path
    pt_bytes: int
    json_path: Path | None
    json_bytes: int | None
    dataset: str | None
    split: str | None
    parameters: dict[str, Any]
    created: str | None
    confidence: Distribution | None
    confidence_field: str | None  # which record field the confidence came from
    margin: Distribution | None
    margin_field: str | None
    true_class_counts: dict[str, int]  # in class-id order
    predicted_class_counts: dict[str, int] | None  # None when records lack predicted labels
    class_ids: dict[str, int]  # every class named above, so tables and plots can sort by id
    confusion_pairs: int | None  # distinct (true, predicted) pairs with true != predicted
    top_confusions: list[dict[str, Any]] = field(default_factory=list)
    scores: pd.DataFrame | None = field(default=None, repr=False)  # per-image values, for plots

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("scores")
        for key in ("confidence", "margin"):
            value = getattr(self, key)
            data[key] = asdict(value) if value is not None else None
        return data


@dataclass
class UnreadableFile:
    path: Path
    size_bytes: int
    reason: str


@dataclass
class FolderAnalysis:
    directory: Path
    sets: list[EditSetSummary]
    problems: list[UnreadableFile]

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory),
                "edit_sets": [s.to_dict() for s in self.sets],
                "not_edit_sets": [asdict(p) for p in self.problems]}


def summarize_edit_set(edit_set: EditSet, *, label: str | None = None) -> EditSetSummary:
    """Counts, score distributions and class diversity of one loaded edit set."""
    records = pd.DataFrame([r if isinstance(r, dict) else {} for r in edit_set.metadata],
                           index=range(len(edit_set)))
    records["true_label"] = edit_set.labels.tolist()
    scores = pd.DataFrame(index=records.index)
    confidence_field = _first_present(records, "confidence", "predicted_probability")
    if confidence_field:
        scores["confidence"] = pd.to_numeric(records[confidence_field], errors="coerce")
    margin_field, margin = _margins(records)
    if margin is not None:
        scores["margin"] = margin

    true_names = _class_names(edit_set, records, "true_label", "true_class")
    class_ids = _ids(true_names, records["true_label"])
    has_predictions = "predicted_label" in records and records["predicted_label"].notna().all()
    predicted_counts = pairs = None
    top: list[dict[str, Any]] = []
    if has_predictions:
        predicted_names = _class_names(edit_set, records, "predicted_label", "predicted_class")
        class_ids.update(_ids(predicted_names, records["predicted_label"]))
        predicted_counts = _counts(predicted_names, class_ids)
        wrong = pd.to_numeric(records["predicted_label"], errors="coerce") != records["true_label"]
        confusions = (pd.DataFrame({"true_class": true_names[wrong],
                                    "predicted_class": predicted_names[wrong]})
                      .value_counts().reset_index(name="count"))
        pairs = len(confusions)
        top = confusions.head(5).to_dict("records")

    pt_path = Path(edit_set.path) if edit_set.path else Path(edit_set.name)
    json_path = metadata_path_for(pt_path)
    info = edit_set.info
    types = sorted({str(t) for t in records.get("type", pd.Series(dtype=object)).dropna()})
    return EditSetSummary(
        label=label or edit_set.name, name=edit_set.name,
        set_type=str(info.get("type") or ("+".join(types) if types else "unknown")),
        num_samples=len(edit_set),
        pt_path=pt_path, pt_bytes=_size(pt_path),
        json_path=json_path if json_path.exists() else None,
        json_bytes=_size(json_path) if json_path.exists() else None,
        dataset=info.get("dataset") or _only_value(records, "dataset"),
        split=info.get("split") or _only_value(records, "split"),
        parameters=dict(info.get("parameters") or {}), created=info.get("created"),
        confidence=Distribution.of(scores["confidence"]) if "confidence" in scores else None,
        confidence_field=confidence_field,
        margin=Distribution.of(scores["margin"]) if "margin" in scores else None,
        margin_field=margin_field,
        true_class_counts=_counts(true_names, class_ids),
        predicted_class_counts=predicted_counts, class_ids=dict(sorted(class_ids.items(),
                                                                      key=lambda kv: kv[1])),
        confusion_pairs=pairs, top_confusions=top, scores=scores,
    )


def analyze_folder(directory: str | Path) -> FolderAnalysis:
    """Every edit set under ``directory`` (recursively), plus the files that are not edit sets."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFoundError(f"edit-set folder {directory} not found; generate sets first or pass "
                            "--edit-sets-dir DIR")
    sets, problems = [], []
    for path in _visible_files(directory, ".pt"):
        try:
            edit_set = load_edit_set(path)
            sets.append(summarize_edit_set(edit_set, label=_label(path, directory)))
        except UserError as error:
            problems.append(UnreadableFile(path, _size(path), _reason(error, path)))
        except Exception as error:  # one odd file must not hide the report on all the others
            log.debug("reading %s failed", path, exc_info=True)
            problems.append(UnreadableFile(path, _size(path), f"unreadable ({type(error).__name__}:"
                                                              f" {str(error)[:120]})"))
    for path in _visible_files(directory, METADATA_SUFFIX):
        pt_twin = path.with_name(path.name[: -len(METADATA_SUFFIX)] + DATASET_SUFFIX)
        if not pt_twin.exists():
            problems.append(UnreadableFile(path, _size(path),
                                           f"metadata without its dataset file {pt_twin.name}"))
    log.info("analysed %d edit sets under %s (%d other files)", len(sets), directory,
             len(problems))
    return FolderAnalysis(directory, sets, problems)


# Tables ---------------------------------------------------------------------------------------

def scores_table(analysis: FolderAnalysis) -> pd.DataFrame:
    rows = [{"set": s.label, "type": s.set_type, "samples": s.num_samples,
             "confidence min / q1 / median / q3 / max":
                 s.confidence.short() if s.confidence else MISSING,
             "margin min / q1 / median / q3 / max": s.margin.short() if s.margin else MISSING}
            for s in analysis.sets]
    return pd.DataFrame(rows)


def classes_table(analysis: FolderAnalysis) -> pd.DataFrame:
    rows = []
    for s in analysis.sets:
        top = s.top_confusions[0] if s.top_confusions else None
        rows.append({
            "set": s.label,
            "true classes": len(s.true_class_counts),
            "predicted classes": (len(s.predicted_class_counts)
                                  if s.predicted_class_counts is not None else MISSING),
            "confusion pairs": s.confusion_pairs if s.confusion_pairs is not None else MISSING,
            "most common confusion (true -> predicted)":
                f"{top['true_class']} -> {top['predicted_class']} ({top['count']})" if top
                else MISSING,
        })
    return pd.DataFrame(rows)


def class_counts_table(analysis: FolderAnalysis) -> pd.DataFrame:
    """Rows: every class seen in any set; one column per set, ``true/predicted`` counts."""
    ids: dict[str, int] = {}
    for s in analysis.sets:
        ids.update(dict.fromkeys(s.true_class_counts, -1))
        ids.update(dict.fromkeys(s.predicted_class_counts or {}, -1))
    for s in analysis.sets:
        ids.update(s.class_ids)
    classes = sorted(ids, key=lambda name: (ids[name] < 0, ids[name], name))  # unknown ids last
    table = pd.DataFrame(index=pd.Index(classes, name="class"))
    for s in analysis.sets:
        predicted = s.predicted_class_counts
        table[s.label] = [f"{s.true_class_counts.get(c, 0)}/"
                          f"{predicted.get(c, 0) if predicted is not None else MISSING}"
                          for c in classes]
    return table


def files_table(analysis: FolderAnalysis) -> pd.DataFrame:
    rows = [{"set": s.label, "dataset file": str(s.pt_path), "size": file_size(s.pt_bytes),
             "metadata file": str(s.json_path) if s.json_path else "(missing)",
             "metadata size": file_size(s.json_bytes) if s.json_bytes is not None else MISSING}
            for s in analysis.sets]
    return pd.DataFrame(rows)


def format_report(analysis: FolderAnalysis) -> str:
    """The readable report ``analyze`` prints: scores, classes, per-class counts, files."""
    head = (f"Edit sets under {analysis.directory}: {len(analysis.sets)} readable, "
            f"{len(analysis.problems)} not edit sets")
    parts = [head]
    if analysis.sets:
        parts += [
            "Scores (quartiles by linear interpolation; '-' = the records carry no such score)",
            render(scores_table(analysis)),
            "Class diversity",
            render(classes_table(analysis)),
            "Images per class (true/predicted)",
            render(class_counts_table(analysis).reset_index()),
            "Files",
            render(files_table(analysis)),
        ]
    else:
        parts.append("no edit sets found")
    if analysis.problems:
        problems = pd.DataFrame([{"file": str(p.path), "size": file_size(p.size_bytes),
                                  "problem": p.reason} for p in analysis.problems])
        parts += ["Not edit sets", render(problems)]
    return "\n\n".join(parts) + "\n"


def render(table: pd.DataFrame) -> str:
    """Plain-text table: text left-aligned, numbers, sizes and '-' right-aligned.

    pandas' ``to_string`` right-aligns text and strips padding, which makes names and paths
    hard to scan; tabulate aligns by column, told here which columns read as numbers.
    """
    rows = [[str(v) for v in row] for row in table.itertuples(index=False)]
    numeric = [bool(rows) and all(_NUMBER.fullmatch(row[i]) for row in rows)
               and any(row[i] != MISSING for row in rows) for i in range(len(table.columns))]
    return text_table(rows, [str(c) for c in table.columns],
                      colalign=["right" if n else "left" for n in numeric], numparse=False)


# Helpers --------------------------------------------------------------------------------------

def _first_present(records: pd.DataFrame, *columns: str) -> str | None:
    for column in columns:
        if column in records and pd.to_numeric(records[column], errors="coerce").notna().any():
            return column
    return None


def _margins(records: pd.DataFrame) -> tuple[str | None, pd.Series | None]:
    if _first_present(records, "margin"):
        return "margin", pd.to_numeric(records["margin"], errors="coerce")
    if not all(c in records for c in ("predicted_probability", "true_probability")):
        return None, None
    predicted = pd.to_numeric(records["predicted_probability"], errors="coerce")
    true = pd.to_numeric(records["true_probability"], errors="coerce")
    margin = predicted - true
    if "predicted_label" in records:
        predicted_label = pd.to_numeric(records["predicted_label"], errors="coerce")
        margin = margin.where(predicted_label != records["true_label"])
    if margin.notna().any():
        return "predicted_probability - true_probability", margin
    return None, None


def _class_names(edit_set: EditSet, records: pd.DataFrame, label_column: str,
                 name_column: str) -> pd.Series:
    """Class names from the records, else from the set's class list, else the label itself."""
    labels = pd.to_numeric(records[label_column], errors="coerce").astype("Int64")
    lookup = {int(v): edit_set.class_name(int(v)) for v in labels.dropna().unique()}
    fallback = labels.map(lambda v: MISSING if pd.isna(v) else lookup[int(v)])
    if name_column not in records:
        return fallback.astype(str)
    return records[name_column].where(records[name_column].notna(), fallback).astype(str)


def _ids(names: pd.Series, labels: pd.Series) -> dict[str, int]:
    ids = pd.to_numeric(labels, errors="coerce")
    return {str(n): int(i) for n, i in zip(names, ids, strict=True) if pd.notna(i)}


def _counts(names: pd.Series, class_ids: dict[str, int]) -> dict[str, int]:
    counts = names.value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(),
                                               key=lambda kv: (class_ids.get(kv[0], 0), kv[0]))}


def _only_value(records: pd.DataFrame, column: str) -> str | None:
    if column not in records:
        return None
    values = records[column].dropna().unique()
    return str(values[0]) if len(values) == 1 else None


def _label(path: Path, directory: Path) -> str:
    relative = path.relative_to(directory).as_posix()
    return relative[: -len(DATASET_SUFFIX)] if relative.endswith(DATASET_SUFFIX) else relative


def _visible_files(directory: Path, suffix: str) -> list[Path]:
    """Files ending in ``suffix``, skipping hidden ones (our atomic writes' temporary files)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files)
                  if f.endswith(suffix) and not f.startswith(".")]
    return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _reason(error: UserError, path: Path) -> str:
    """The loader's message without the path (the table shows it), or plainer for junk bytes.

    ``torch.save`` writes a zip archive; for anything else ``torch.load`` blames its
    ``weights_only`` mode, which misleads about a file that is simply not PyTorch's.
    """
    if path.stat().st_size == 0:
        return "empty file"
    if not zipfile.is_zipfile(path) and "not a readable edit set" in str(error):
        return "not a PyTorch file (corrupt, truncated or another format)"
    text = str(error)
    for prefix in (f"{path}: ", f"{path} is ", f"{path} "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text
