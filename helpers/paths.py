"""Can an output be written there? Asked before any work starts, answered in one line.

A run that computes for an hour and then fails on ``PermissionError`` from its temporary file
has lost the hour. :func:`check_location` asks the file system the same question up front, by
creating and removing a probe file in the nearest folder that exists, because ``os.access``
answers "yes" to root even on an immutable or read-only folder.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from helpers.errors import UserError

# A folder with less free space than this cannot hold even a report; larger outputs are caught
# by the write itself (ENOSPC becomes the same one-line message).
MIN_FREE_BYTES = 1 << 20

_REASONS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied (the folder is read-only for this user)",
    errno.EPERM: "not permitted (the folder is read-only or immutable)",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENOTDIR: "a parent of it is a file, not a folder",
    errno.EEXIST: "a parent of it is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many symbolic links",
}


def describe_os_error(path: str | os.PathLike, error: OSError) -> str:
    """``cannot write <path>: <reason>; ...`` for an ``OSError`` from creating or writing it."""
    reason = _REASONS.get(error.errno or 0, error.strerror or str(error))
    return f"cannot write {path}: {reason}; choose another path or fix the folder"


def nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists (``.`` at the worst)."""
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def check_location(path: str | os.PathLike, *, folder: bool = False,
                   min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Refuse an output whose folder cannot be created or written, naming path and reason.

    ``folder=True`` when ``path`` is itself an output folder (plots, checkpoints). Nothing is
    created: the probe file goes into the nearest existing ancestor and is removed at once.
    """
    path = Path(path)
    target = path if folder else path.parent
    existing = nearest_existing(target)
    if not existing.is_dir():
        what = "it" if existing == path else str(existing)
        raise UserError(f"cannot write {path}: {what} is a file, not a folder; choose another "
                        "path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=existing)
    except OSError as error:
        raise UserError(describe_os_error(path, error)) from None
    os.close(fd)
    os.unlink(probe)
    free = shutil.disk_usage(existing).free
    if free < min_free_bytes:
        raise UserError(f"cannot write {path}: no space left on the device ({free} bytes free "
                        f"in {existing}); free some space or choose another path")
    return path
