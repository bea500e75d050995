"""The images a report or a review flags, for ``--exclude-flagged FILE``.

Suspect images must never enter an edit set: a repair that "fixes" a mislabelled image teaches
the model the mistake. Three kinds of file name such images, by (data set, split, index):

* a label-issues report: every image in ``errors[]``;
* a near-duplicates report: both images of every pair in ``similar_pairs[]`` (an edit set drawn
  from the test split then loses the test images that have a near-copy in training);
* a decisions export of the review page (JSON or CSV): every image a reviewer marked ``fixed``
  or ``relabel`` (a confirmed problem); ``ignored`` ones were judged fine and stay.

A file made for another data set is refused, so a typo cannot silently exclude nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_quality.reports import FORMAT, read_report
from helpers.errors import NotFoundError, UserError
from helpers.label_overrides import parse_decision_rows, row_key

Key = tuple[str, str, int]
CONFIRMED = ("fixed", "relabel")


@dataclass(frozen=True)
class FlaggedImages:
    """Flagged keys from one file, with its hash (what an edit set's metadata records)."""

    path: Path
    sha256: str
    kind: str
    keys: frozenset[Key]

    @classmethod
    def read(cls, path: str | Path) -> FlaggedImages:
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"flagged-images file {path} not found (give a data-quality "
                                "report or a decisions export)")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if _is_report(data):
            report = read_report(path)
            return cls(path, digest, report["report_type"], frozenset(_report_keys(report,
                                                                                  path)))
        rows = parse_decision_rows(data, path)
        keys = set()
        for number, row in enumerate(rows, 1):
            if str(row.get("decision") or "").strip() in CONFIRMED:
                keys.add(row_key(row, path, number))
        return cls(path, digest, "decisions", frozenset(keys))

    def indices_for(self, dataset: str, split: str, num_images: int) -> set[int]:
        """Flagged indices of ``dataset``/``split``.

        Raises
        ------
        UserError
            The file flags images of other data sets only, or an index outside the split.
        """
        self.check_dataset(dataset)
        found = {i for d, s, i in self.keys if d == dataset and s == split}
        outside = sorted(i for i in found if not 0 <= i < num_images)
        if outside:
            raise UserError(f"{self.path} flags image {outside[0]} of {dataset}/{split}, which "
                            f"has only {num_images} images; was it made from another copy?")
        return found

    def check_dataset(self, dataset: str) -> None:
        """Refuse a file that flags images of other data sets only (a mix-up, not a choice)."""
        datasets = {d for d, _, _ in self.keys}
        if self.keys and dataset not in datasets:
            raise UserError(f"{self.path} flags images of data set "
                            f"{', '.join(sorted(datasets))}, not {dataset}; pass the report made "
                            "for this data set")

    def describe(self, excluded: int | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"file": str(self.path), "sha256": self.sha256,
                                "kind": self.kind, "flagged": len(self.keys)}
        if excluded is not None:
            info["excluded"] = excluded
        return info


def _is_report(data: bytes) -> bool:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("format") == FORMAT


def _report_keys(report: dict[str, Any], path: Path) -> set[Key]:
    keys: set[Key] = set()
    if report["report_type"] == "label_issues":
        for number, row in enumerate(report["errors"], 1):
            keys.add(row_key(_with_dataset(row, report), path, number))
    elif report["report_type"] == "near_duplicates":
        for number, pair in enumerate(report["similar_pairs"], 1):
            for side in ("a", "b"):
                if not isinstance(pair, dict) or not isinstance(pair.get(side), dict):
                    raise UserError(f"{path}: pair {number} lacks its image {side!r}")
                keys.add(row_key(_with_dataset(pair[side], report), path, number))
    else:
        raise UserError(f"{path} is a {report['report_type']} report, which flags no images; "
                        "pass a label_issues or near_duplicates report, or a decisions export")
    return keys


def _with_dataset(row: Any, report: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(row, dict):
        return {}
    return {"dataset": report.get("dataset"), **row}
