"""A resumable, append-only CSV of finished rows: :class:`ResultLog`.

Rules that make an interrupted sweep safe to re-run:

* the header is written with the file, atomically, so a file never has half a header;
* every row is one physical line (text cells have their line breaks replaced), written in
  one ``write`` on an ``O_APPEND`` descriptor and ``fsync``'d before the next row starts, so a
  kill loses at most the row being written;
* a last line without its newline is the torn row of such a kill: it is cut off on open, with
  a warning, and its configuration runs again (it was never finished);
* a file written with the older, shorter header (the first 22 columns, which notebooks and the
  original runner use) is widened once: rewritten atomically with the newer columns empty in
  its old rows, then appended to;
* a file whose header differs from ours otherwise is refused, never appended to;
* an exclusive ``flock`` while open: two runners cannot interleave rows in one file.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from helpers.atomic_io import FILE_MODE, atomic_write_text
from helpers.errors import UserError
from helpers.paths import check_location, describe_os_error

log = logging.getLogger(__name__)

ID_COLUMN = "experiment_id"


class ResultLog:
    """Open with ``with ResultLog(path, columns) as results:``; then :meth:`append` rows.

    ``completed_ids`` holds the ids of the rows already in the file (and those appended since).
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        if ID_COLUMN not in columns:
            raise ValueError(f"columns must include {ID_COLUMN!r}")
        self.path = Path(path)
        self.columns = tuple(columns)
        self.completed_ids: set[str] = set()
        self._fd: int | None = None

    # ------------------------------------------------------------------ opening

    def open(self) -> ResultLog:
        """Create (or reopen) the file and hold its lock before anything is read or written.

        The file is created in place with ``O_CREAT`` and locked before its header exists: a
        header written by temporary file and rename would give a second runner a new inode
        while the first holds the lock on the old one, and both would be accepted.
        """
        if self.path.is_dir():
            raise UserError(f"{self.path} is a directory; give a CSV file path")
        check_location(self.path)
        while True:
            fd = _open_or_refuse(self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UserError(f"{self.path} is being written by another experiment runner; "
                                "wait for it or choose another --output-file") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # replaced or removed while we waited for the lock: open it again
        try:
            self._write_header_if_new(fd)
            self._cut_torn_line(fd)
            if self._widen_older_header():  # the file was replaced: lock the new one
                os.close(fd)
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
                fcntl.flock(fd, fcntl.LOCK_EX)
            self.completed_ids = self._read_ids()
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _write_header_if_new(self, fd: int) -> None:
        """Under the lock: an empty file (or a header cut by a kill) gets the header."""
        header = format_line(self.columns).encode("utf-8")
        size = os.fstat(fd).st_size
        if size and (size >= len(header) or os.pread(fd, size, 0) != header[:size]):
            return
        os.ftruncate(fd, 0)
        os.write(fd, header)
        os.fsync(fd)

    def _cut_torn_line(self, fd: int) -> None:
        """Drop a last line that lacks its newline: the row a killed run was writing."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        tail_start = max(0, size - (1 << 16))
        tail = os.pread(fd, size - tail_start, tail_start)
        while b"\n" not in tail and tail_start > 0:  # a row longer than 64 KiB
            tail_start = max(0, tail_start - (1 << 16))
            tail = os.pread(fd, size - tail_start, tail_start)
        if b"\n" not in tail:
            raise UserError(f"{self.path} has no complete line, not even a header; move it away")
        keep = tail_start + tail.rindex(b"\n") + 1
        log.warning("%s: dropping an incomplete last line (%d bytes) left by an interrupted "
                    "run; its configuration runs again", self.path, size - keep)
        os.ftruncate(fd, keep)
        os.fsync(fd)

    def _widen_older_header(self) -> bool:
        """A CSV whose header is a leading part of ours gets the missing columns, empty."""
        # Only the header decides; the body is read (and checked by _read_ids) when it must be.
        with open(self.path, "rb") as handle:
            first = handle.readline()
        try:
            header = tuple(next(csv.reader([first.decode("utf-8")]), ()))
        except UnicodeDecodeError:
            return False
        if not header or len(header) >= len(self.columns) or \
                header != self.columns[:len(header)]:
            return False
        with open(self.path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        added = len(self.columns) - len(header)
        body = "".join(format_line([*cells, *[None] * added]) for cells in rows[1:])
        atomic_write_text(self.path, format_line(self.columns) + body)
        log.warning("%s was written with %d columns; added the %d newer ones (empty in its %d "
                    "old rows)", self.path, len(header), added, len(rows) - 1)
        return True

    def _read_ids(self) -> set[str]:
        with open(self.path, "rb") as handle:
            reader = csv.reader(_decoded_lines(handle, self.path))
            header = _next_row(reader, self.path)
            check_header(self.path, header, self.columns)
            ids: set[str] = set()
            position = self.columns.index(ID_COLUMN)
            for number, cells in enumerate(_rows(reader, self.path), start=2):
                if len(cells) != len(self.columns):
                    raise UserError(f"{self.path} line {number} has {len(cells)} cells, expected "
                                    f"{len(self.columns)}; was it edited by hand? Fix or move it")
                identifier = cells[position]
                if identifier in ids:
                    log.warning("%s: experiment %s appears more than once", self.path,
                                identifier)
                ids.add(identifier)
        return ids

    # ------------------------------------------------------------------ writing

    def append(self, row: Mapping[str, Any]) -> None:
        """Write one row as one line and make it durable before returning."""
        if self._fd is None:
            raise RuntimeError("ResultLog.append before open()")
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"row has columns the log does not: {sorted(unknown)}")
        identifier = str(row[ID_COLUMN])
        if identifier in self.completed_ids:
            raise ValueError(f"experiment {identifier} already has a row in {self.path}")
        data = format_line([row.get(column) for column in self.columns]).encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)
        self.completed_ids.add(identifier)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> ResultLog:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def _open_or_refuse(path: Path) -> int:
    """``open(O_CREAT)`` with the reasons a user can fix as one line each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
    except OSError as error:
        raise UserError(describe_os_error(path, error)) from None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _decoded_lines(handle: Any, path: Path) -> Iterator[str]:
    """The lines of a binary handle as text; a line that is not UTF-8 is named, not a crash."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path} line {number} is not UTF-8 text; this runner did not write "
                            "it. Fix or remove that line, or choose another --output-file"
                            ) from None


def _next_row(reader: Any, path: Path) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as error:
        raise UserError(f"{path} line {reader.line_num}: {error}; fix or move the file") from None


def _rows(reader: Any, path: Path) -> Iterator[list[str]]:
    """Rows of the CSV, with ``csv.Error`` (a malformed line) named by line number."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise UserError(f"{path} line {reader.line_num}: {error}; this runner did not write "
                            "that line. Fix or move the file") from None
        yield row


def check_header(path: Path, header: Sequence[str] | None, columns: Sequence[str]) -> None:
    """Refuse a CSV written with other columns: appending would misalign every later row."""
    if header is not None and tuple(header) == tuple(columns):
        return
    if not header:
        raise UserError(f"{path} has an empty first line instead of the CSV header; move it away")
    missing = [c for c in columns if c not in header]
    extra = [c for c in header if c not in columns]
    if missing or extra:
        detail = "; ".join(part for part in (
            f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
            if missing else "",
            f"unexpected {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}"
            if extra else "") if part)
    else:
        detail = "the same columns in another order"
    raise UserError(f"{path} has other columns than this runner writes ({detail}); choose a new "
                    "--output-file or move the old file away")


def format_line(cells: Sequence[Any]) -> str:
    """One CSV line: ``None`` and NaN empty, floats at full precision, no embedded newlines."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_cell(value) for value in cells])
    return buffer.getvalue()


# Python's csv reader refuses fields over 131,072 characters; the writer keeps every text cell
# well under that, so a file this module wrote always reads back.
MAX_CELL_CHARS = 100_000


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        text = " ".join(value.splitlines())
        if len(text) > MAX_CELL_CHARS:
            text = text[: MAX_CELL_CHARS - 20] + " ... (truncated)"
        return text
    return value
