"""Write files whole or not at all, and never overwrite a user's file unasked.

Every output of the toolkit goes through these functions: a temporary file in the same folder,
then ``os.replace``, so an interrupted run leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import torch

from helpers import strict_json
from helpers.errors import UserError
from helpers.paths import check_location, describe_os_error

log = logging.getLogger(__name__)


def check_writable(path: str | os.PathLike, *, force: bool) -> Path:
    """Before any work: refuse an existing file unless ``force``, and a folder we cannot write.

    The location check (read-only folder, a parent that is a file, no space) is
    :func:`helpers.paths.check_location`; stale temporaries a killed run left beside ``path``
    are removed here, so they do not pile up.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file path")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it or choose another "
                        "path")
    check_location(path)
    remove_stale_temporaries(path)
    return path


def temporary_pattern(path: Path) -> str:
    """The glob of the temporaries :func:`atomic_open` makes for ``path``."""
    return f".{glob.escape(path.name)}.*.tmp*"


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporaries of ``path`` that no live writer holds (a killed run's leftovers).

    Every writer keeps an exclusive ``flock`` on its temporary until the rename, so a
    temporary whose lock can be taken belongs to a dead process.
    """
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.glob(temporary_pattern(path)):
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # being written right now
        else:
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
            removed.append(candidate)
            log.warning("removed %s, a temporary file left by an interrupted run", candidate)
        finally:
            os.close(fd)
    return removed


def _process_umask() -> int:
    """The umask, read once: ``mkstemp`` makes 0600 files, and outputs should get the usual mode."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_process_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success it replaces ``path`` in one step."""
    path = Path(path)
    fd, tmp_name = _make_temporary(path, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            _os_call(path, os.fsync, handle.fileno())
            _os_call(path, os.replace, tmp_name, path)  # still locked: never seen as stale
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Strict JSON (see :mod:`helpers.strict_json`): no ``NaN`` or ``Infinity`` tokens."""
    return atomic_write_text(path, strict_json.dumps(obj, indent=2, default=_json_default) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` streamed into the temporary file: no in-memory copy of a large checkpoint."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)
    return Path(path)


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """For libraries that insist on writing to a path themselves (matplotlib, PDF writers)."""
    path = Path(path)
    fd, tmp_name = _make_temporary(path, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    try:
        writer(Path(tmp_name))  # our descriptor keeps the lock on the inode it writes into
        _os_call(path, os.replace, tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    finally:
        os.close(fd)
    return path


def _make_temporary(path: Path, *, prefix: str, suffix: str) -> tuple[int, str]:
    """A locked temporary sibling of ``path``; file-system refusals become one-line errors."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except (FileExistsError, NotADirectoryError, PermissionError) as error:
        raise UserError(describe_os_error(path, error)) from None
    except OSError as error:
        if error.errno in _USER_ERRNOS:
            raise UserError(describe_os_error(path, error)) from None
        raise
    os.fchmod(fd, FILE_MODE)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, tmp_name


_USER_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT,
                errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG}


def _os_call(path: Path, function: Callable[..., Any], *args: Any) -> Any:
    """Run a file-system call; a full disk or read-only file system becomes a UserError."""
    try:
        return function(*args)
    except OSError as error:
        if error.errno in _USER_ERRNOS:
            raise UserError(describe_os_error(path, error)) from None
        raise


def _json_default(value: Any) -> Any:
    """Let reports hold numpy and torch scalars, paths and sets with no conversion at call sites."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
