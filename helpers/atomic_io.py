"""Write files whole or not at all, and never overwrite a user's file unasked.

Every output of the toolkit goes through these functions: a temporary file in the same folder,
then ``os.replace``, so an interrupted run leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import torch

from helpers.errors import UserError


def check_writable(path: str | os.PathLike, *, force: bool) -> Path:
    """Refuse to replace an existing file unless ``force`` is set."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file path")
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it or choose another "
                        "path")
    return path


def _process_umask() -> int:
    """The umask, read once: ``mkstemp`` makes 0600 files, and outputs should get the usual mode."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_process_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success it replaces ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
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
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` streamed into the temporary file: no in-memory copy of a large checkpoint."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)
    return Path(path)


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """For libraries that insist on writing to a path themselves (matplotlib, PDF writers)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        writer(Path(tmp_name))
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path


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
