"""A data file and the JSON that describes it, published as a pair.

Edit sets (``.pt`` + metadata JSON) and repairs (model + report) are two files each. Written one
after the other, a kill between the two writes leaves one file alone, and the rerun then either
refuses ("already exists") or, worse, a reader trusts half a result. The rules here:

* the data file is written first and the JSON last, so a JSON (and for edit sets the pair)
  means a complete result;
* while the pair is being written a hidden ``.<data name>.pair-pending`` marker exists and is
  locked; a marker nobody holds is the trace of a killed writer, and the next run replaces
  that pair without ``--force`` (the user never had a complete result there);
* a lone edit-set JSON without its ``.pt`` (left by older versions, which wrote the JSON first)
  is likewise replaced without ``--force``, when it is recognisably ours (the caller's
  ``lone_json_is_partial`` predicate; for edit sets, its ``format`` field). A JSON someone else
  put there is still a user's file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from helpers.atomic_io import FILE_MODE, atomic_write_json, check_writable
from helpers.errors import UserError

log = logging.getLogger(__name__)


def pending_marker(data_path: str | os.PathLike) -> Path:
    data_path = Path(data_path)
    return data_path.with_name(f".{data_path.name}.pair-pending")


def interrupted(data_path: str | os.PathLike) -> bool:
    """True when a writer of this pair died before finishing (its marker is unheld)."""
    marker = pending_marker(data_path)
    try:
        fd = os.open(marker, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UserError(f"{data_path} is being written by another process right now; wait for "
                        "it or choose another path") from None
    finally:
        os.close(fd)
    return True


def check_pair(data_path: str | os.PathLike, json_path: str | os.PathLike, *, force: bool,
               lone_json_is_partial: Callable[[Path], bool] | None = None) -> tuple[Path, Path]:
    """Before any work: may this pair be written? Refuses like :func:`check_writable`.

    A pair a killed run left half-written is replaced without ``force`` (logged); so is a lone
    JSON for which ``lone_json_is_partial(json_path)`` is true (one of our edit-set JSONs, which
    alone never is a result).
    """
    data_path, json_path = Path(data_path), Path(json_path)
    replace = force
    if interrupted(data_path):
        log.warning("%s and %s were left half-written by an interrupted run; writing them again",
                    data_path, json_path.name)
        replace = True
    elif (lone_json_is_partial is not None and json_path.is_file() and not data_path.exists()
          and lone_json_is_partial(json_path)):
        log.warning("%s has no %s beside it (an interrupted run); writing the pair again",
                    json_path, data_path.name)
        check_writable(json_path, force=True)
        return check_writable(data_path, force=force), json_path
    return check_writable(data_path, force=replace), check_writable(json_path, force=replace)


@contextlib.contextmanager
def _pending(data_path: Path) -> Iterator[None]:
    """Hold the pair's marker (created and locked) while its files are written."""
    marker = pending_marker(data_path)
    marker.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(marker, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        # Both files are in place, or the caller rolled back: either way no half pair is left.
        # Only a kill (no finally) leaves the marker, unlocked, for the next run to find.
        marker.unlink(missing_ok=True)
        os.close(fd)


def write_pair(data_path: str | os.PathLike, write_data: Callable[[Path], Any] | None,
               json_path: str | os.PathLike, document: Any, *, force: bool,
               lone_json_is_partial: Callable[[Path], bool] | None = None) -> tuple[Path, Path]:
    """Write the data file (``write_data(path)``, atomic), then the JSON; see the module doc.

    ``write_data`` of ``None`` writes the JSON alone (a repair that found no model still has
    its report).
    """
    was_interrupted = interrupted(data_path)
    data_path, json_path = check_pair(data_path, json_path, force=force,
                                      lone_json_is_partial=lone_json_is_partial)
    with _pending(data_path):
        if write_data is None:
            if was_interrupted:  # a data file without its JSON is no result: never leave one
                data_path.unlink(missing_ok=True)
        else:
            write_data(data_path)
        try:
            atomic_write_json(json_path, document)
        except BaseException:
            if write_data is not None:  # roll back: a data file alone is half a pair
                data_path.unlink(missing_ok=True)
            raise
    return data_path, json_path
