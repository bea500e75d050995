"""The review page's decisions, kept in SQLite so they survive a restart, and their export.

One row per (data set, split, index, issue): the image, which finding it answers (``label``, or
``duplicate:<split>/<index>`` for a pair, stored on its first image), the decision (``fixed``,
``ignored`` or ``relabel`` with the new class) and when it was taken. The database runs in WAL
mode (readers never wait for the writer; a crash mid-write loses nothing committed), and each
operation opens its own connection, so the threaded web server needs no shared handle.

A file that is not a SQLite database, or one whose integrity check fails, is refused with one
line and **never** touched: it may hold a researcher's only record of hours of review.

The export (CSV or JSON) is the file ``--label-overrides`` (relabel rows) and
``--exclude-flagged`` (fixed and relabel rows) read.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers import strict_json
from helpers.errors import UserError
from helpers.label_overrides import DECISIONS, RELABEL
from helpers.paths import check_location

SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_DATABASE = Path("results/data_quality/decisions.sqlite")
EXPORT_FORMAT = "alexnet-repair-decisions/1"
COLUMNS = ("dataset", "split", "image_idx", "issue", "decision", "new_label", "new_class",
           "given_label", "given_class", "note", "decided_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    dataset TEXT NOT NULL,
    split TEXT NOT NULL,
    image_idx INTEGER NOT NULL,
    issue TEXT NOT NULL,
    decision TEXT NOT NULL,
    new_label INTEGER,
    new_class TEXT,
    given_label INTEGER,
    given_class TEXT,
    note TEXT,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (dataset, split, image_idx, issue)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Decision:
    """One reviewer decision (see the module docstring)."""

    dataset: str
    split: str
    image_idx: int
    issue: str
    decision: str
    new_label: int | None = None
    new_class: str | None = None
    given_label: int | None = None
    given_class: str | None = None
    note: str | None = None
    decided_at: str = ""

    @property
    def key(self) -> tuple[str, str, int, str]:
        return self.dataset, self.split, self.image_idx, self.issue


class DecisionStore:
    """Decisions in one SQLite file, created on first use (see the module docstring)."""

    def __init__(self, path: str | Path = DEFAULT_DATABASE):
        """Check an existing file at once (read-only); a new one is created on the first write,
        so merely opening the review page writes nothing."""
        self.path = Path(path)
        self._ready = False
        if self.path.is_dir():
            raise UserError(f"decision database {self.path} is a folder; give a file path")
        if self.path.exists():
            self._check_existing()

    # --------------------------------------------------------------------------- opening

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        if not self.path.exists():
            check_location(self.path)
        else:
            self._check_existing()
        with self._connect(transaction=False) as connection:
            connection.executescript(_SCHEMA)
            connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                               (str(SCHEMA_VERSION),))
        self._ready = True

    def _check_existing(self) -> None:
        """Refuse a file that is not a healthy decision database, without writing to it."""
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except OSError as error:
            raise UserError(f"cannot read decision database {self.path} "
                            f"({error.strerror or error})") from None
        if head and head != SQLITE_HEADER:
            raise self._corrupt("it is not a SQLite database")
        if not head:
            return  # an empty file: SQLite makes a database of it
        try:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            try:
                result = connection.execute("PRAGMA quick_check").fetchone()
                tables = {row[0] for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
                version = None
                if "meta" in tables:
                    found = connection.execute(
                        "SELECT value FROM meta WHERE key='schema_version'").fetchone()
                    version = found[0] if found else None
            finally:
                connection.close()
        except sqlite3.DatabaseError as error:
            raise self._corrupt(str(error)) from None
        if not result or result[0] != "ok":
            raise self._corrupt(f"integrity check: {result[0] if result else 'no answer'}")
        if tables and "decisions" not in tables:
            raise self._corrupt("it is a SQLite database of something else (no decisions table)")
        if version is not None and version != str(SCHEMA_VERSION):
            raise UserError(f"decision database {self.path} has schema version {version}; this "
                            f"version of the toolkit reads {SCHEMA_VERSION}")

    def _corrupt(self, reason: str) -> UserError:
        return UserError(f"decision database {self.path} is damaged ({reason[:160]}); it was "
                         "left untouched: move it away (or restore a backup) and start again")

    @contextlib.contextmanager
    def _connect(self, *, transaction: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.OperationalError) as error:
            raise UserError(f"cannot open decision database {self.path} ({error})") from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            if transaction:
                connection.execute("BEGIN IMMEDIATE")
            yield connection
            if transaction:
                connection.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise UserError(f"decision database {self.path}: {error}") from None
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    # ----------------------------------------------------------------------- reading, writing

    def decide(self, decision: Decision) -> Decision:
        """Record (or replace) the decision for its image and issue; returns it, time-stamped."""
        check_decision(decision)
        self._ensure_schema()
        stamped = Decision(**{**asdict(decision),
                              "decided_at": datetime.now(UTC).isoformat(timespec="seconds")})
        values = asdict(stamped)
        with self._connect() as connection:
            connection.execute(
                f"INSERT OR REPLACE INTO decisions ({', '.join(COLUMNS)}) VALUES "
                f"({', '.join('?' for _ in COLUMNS)})", [values[c] for c in COLUMNS])
        return stamped

    def undo(self, dataset: str, split: str, image_idx: int, issue: str) -> bool:
        """Forget a decision; whether there was one."""
        self._ensure_schema()
        with self._connect() as connection:
            cursor = connection.execute(
                "DELETE FROM decisions WHERE dataset=? AND split=? AND image_idx=? AND issue=?",
                (dataset, split, image_idx, issue))
            return cursor.rowcount > 0

    def all(self) -> list[Decision]:
        if not self.path.exists():
            return []
        self._ensure_schema()
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT {', '.join(COLUMNS)} FROM decisions "
                "ORDER BY dataset, split, image_idx, issue").fetchall()
        return [Decision(**dict(zip(COLUMNS, row, strict=True))) for row in rows]

    def by_key(self) -> dict[tuple[str, str, int, str], Decision]:
        return {d.key: d for d in self.all()}

    # ------------------------------------------------------------------------------ export

    def export_json(self) -> str:
        """``{"format", "exported", "decisions": [...]}``: readable by ``--label-overrides``."""
        return strict_json.dumps({
            "format": EXPORT_FORMAT,
            "exported": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": str(self.path),
            "decisions": [asdict(d) for d in self.all()],
        }, indent=2) + "\n"

    def export_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for decision in self.all():
            writer.writerow({k: "" if v is None else v for k, v in asdict(decision).items()})
        return buffer.getvalue()


def check_decision(decision: Decision) -> None:
    """A decision the store accepts: a known word, a relabel with its class, sane keys."""
    if decision.decision not in DECISIONS:
        raise UserError(f"decision must be one of {', '.join(DECISIONS)}, got "
                        f"{decision.decision!r}")
    if decision.decision == RELABEL and not decision.new_class:
        raise UserError("a relabel decision needs the new class")
    if decision.decision != RELABEL and (decision.new_class or decision.new_label is not None):
        raise UserError(f"a {decision.decision} decision takes no new class")
    if not decision.dataset or not decision.split or not decision.issue:
        raise UserError("a decision needs its data set, split and issue")
    if isinstance(decision.image_idx, bool) or not isinstance(decision.image_idx, int) \
            or decision.image_idx < 0:
        raise UserError(f"image index must be a whole number >= 0, got {decision.image_idx!r}")


def export_rows(decisions: list[Decision]) -> list[dict[str, Any]]:
    return [asdict(d) for d in decisions]
