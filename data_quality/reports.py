"""The three data-quality reports: their names, their common header, and reading them back.

Every report is one JSON file, ``<kind>_report_<YYYYmmdd_HHMMSS>.json`` (UTC), in the original
toolkit's shape (``summary`` plus a list: ``errors`` or ``similar_pairs``), with a header that
says what produced it: data set, split(s), class names, the model file and its hash, the label
overrides in force, the command and the time. A report is read back only for the data set it
was made for (the review page, ``--exclude-flagged``); anything else is a one-line error.
"""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers.atomic_io import atomic_write_json, check_writable
from helpers.errors import NotFoundError, UserError

FORMAT = "alexnet-repair-data-quality/1"
KINDS = {
    "label_issues": "errors",
    "near_duplicates": "similar_pairs",
    "prediction_validation": "per_class",
}
DEFAULT_OUTPUT_DIR = Path("results/data_quality")


def timestamp(now: datetime | None = None) -> str:
    """``20261206_004501``: sorts by time, safe in file names."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")


def report_path(kind: str, output_dir: str | Path, stamp: str | None = None) -> Path:
    """``<output_dir>/<kind>_report_<stamp>.json``."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    return Path(output_dir) / f"{kind}_report_{stamp or timestamp()}.json"


def header(kind: str, *, dataset: str, class_names: list[str], model: dict[str, Any] | None,
           label_overrides: dict[str, Any] | None, argv: list[str] | None = None,
           script: str | None = None, **extra: Any) -> dict[str, Any]:
    """The fields every report starts with (see the module docstring)."""
    words = list(sys.argv[1:] if argv is None else argv)
    return {
        "format": FORMAT,
        "report_type": kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([script or Path(sys.argv[0]).name, *words]),
        "dataset": dataset,
        **extra,
        "class_names": list(class_names),
        "model": model,
        "label_overrides": label_overrides,
    }


def prepare_output(path: str | Path, *, force: bool) -> Path:
    """Refuse an existing report (without ``force``) or an unwritable folder, before any work."""
    return check_writable(path, force=force)


def write_report(path: str | Path, report: dict[str, Any]) -> Path:
    """Strict JSON, whole or not at all (NaN is refused, not written)."""
    return atomic_write_json(path, report)


def read_report(path: str | Path, *, kind: str | None = None,
                dataset: str | None = None) -> dict[str, Any]:
    """A report written by :func:`write_report`, checked.

    Raises
    ------
    UserError
        Missing or unreadable file, not a data-quality report, another kind than ``kind``, or
        made for another data set than ``dataset``.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"report {path} not found")
    try:
        report = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path} is not a readable JSON report ({str(error)[:120]})") from None
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise UserError(f"{path} is not a data-quality report (no \"format\": \"{FORMAT}\")")
    found = report.get("report_type")
    if found not in KINDS or not isinstance(report.get(KINDS[found]), list | dict):
        raise UserError(f"{path}: unknown or incomplete report type {found!r}")
    if kind is not None and found != kind:
        raise UserError(f"{path} is a {found} report, not {kind}")
    if dataset is not None and report.get("dataset") != dataset:
        raise UserError(f"{path} is a report for data set {report.get('dataset')!r}, not "
                        f"{dataset!r}; run the check on this data set or pass its own report")
    return report


def list_reports(folder: str | Path) -> list[Path]:
    """Report files in ``folder``, newest first (by the time stamp in the name)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for kind in KINDS for p in folder.glob(f"{kind}_report_*.json")]
    return sorted(found, key=lambda p: (p.name.rsplit("_report_", 1)[-1], p.name), reverse=True)


def model_info(loaded: Any, weights: str | Path) -> dict[str, Any]:
    """The model a report was made with: file, hash, architecture, layer names come later."""
    from activations.extract import file_sha256

    return {"path": str(weights), "sha256": file_sha256(Path(weights)),
            "architecture": loaded.metadata.architecture,
            "num_classes": loaded.metadata.num_classes}


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not valid strict JSON")
