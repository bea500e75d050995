"""Which edit sets a folder holds, each decoded once and kept while it is unchanged.

Every listing rescans the folder and its subfolders (the experiment runner writes
``<edit-sets-dir>/<model>-<fingerprint>/``) with ``stat`` only: a file is read again only when
its size or modification time changes, so new and rewritten sets appear on reload without a
restart. Every ``.pt`` file is listed; one that does not load is listed with the reason, so a
bad file never takes the page down. A set in a subfolder is named by its relative path
(``alexnet_base-1a2b/misclassified_n10_seed0``). Names from URLs are looked up in the scanned
list and never joined to a path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from editset_helpers.io import DATASET_SUFFIX, edit_set_name, load_edit_set
from editset_helpers.web.lru import LRUCache
from editset_helpers.web.sets import FileIdentity, LoadedSet, build_loaded_set
from helpers.errors import NotFoundError, UserError

log = logging.getLogger(__name__)


class UnreadableSetError(UserError):
    """The set exists in the folder but its file does not load as an edit set."""


@dataclass(frozen=True)
class CatalogEntry:
    """One ``.pt`` file of the folder: its name, size, image count, or why it does not load."""

    name: str
    identity: FileIdentity
    images: int | None
    error: str | None

    @property
    def file(self) -> str:
        return self.identity.path.name

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        modified = datetime.fromtimestamp(self.identity.mtime_ns / 1e9, UTC)
        return {"name": self.name, "file": self.file, "images": self.images,
                "size_bytes": self.identity.size,
                "modified": modified.isoformat(timespec="seconds"), "error": self.error}


class Catalog:
    """The edit sets of one folder; decoded sets are kept in a small LRU (``max_open``).

    Parameters
    ----------
    directory
        Folder scanned for ``*.pt`` files, subfolders included (hidden files and folders are
        skipped).
    fallback_class_names
        Class names for records that carry none and whose set names no class list.
    max_open
        How many decoded sets stay in memory; a 2,000-image CIFAR set takes about 30 MB.
    """

    def __init__(self, directory: str | Path, *, fallback_class_names: Sequence[str] | None = None,
                 max_open: int = 4):
        self.directory = Path(directory)
        self.fallback_class_names = list(fallback_class_names or [])
        self.max_open = max_open
        self._entries: dict[str, CatalogEntry] = {}
        self._probes: dict[FileIdentity, tuple[int | None, str | None]] = {}
        self._open: LRUCache[FileIdentity, LoadedSet] = LRUCache(max_open)
        self._lock = threading.RLock()

    def scan(self) -> list[CatalogEntry]:
        """Stat every ``.pt`` file; read only files not seen before with this size and mtime."""
        with self._lock:
            files = sorted(self._pt_files(),  # <name>_edit_dataset.pt first: it owns <name>
                           key=lambda p: (p.parent != self.directory, str(p.parent),
                                          not p.name.endswith(DATASET_SUFFIX), p.name))
            entries: dict[str, CatalogEntry] = {}
            for path in files:
                try:
                    identity = FileIdentity.of(path)
                except FileNotFoundError:  # removed while we looked
                    continue
                images, error = self._probe(identity)
                name = self._name_of(path, edit_set_name(path))
                if name in entries:  # foo.pt beside foo_edit_dataset.pt: keep both, by file name
                    name = self._name_of(path, path.name)
                entries[name] = CatalogEntry(name, identity, images, error)
            live = {e.identity for e in entries.values()}
            self._probes = {k: v for k, v in self._probes.items() if k in live}
            self._entries = dict(sorted(entries.items()))
            return list(self._entries.values())

    def entry(self, name: str) -> CatalogEntry:
        """The entry called ``name``, rescanning so a file added since the last scan is found."""
        with self._lock:
            found = self._entries.get(name)
            if found is None or not _unchanged(found.identity):
                found = {e.name: e for e in self.scan()}.get(name)
            if found is None:
                raise NotFoundError(f"no edit set named {name!r} in {self.directory}; "
                                    "see /api/sets for the sets there")
            return found

    def open(self, name: str) -> LoadedSet:
        """The decoded set called ``name``; UnreadableSetError when its file does not load."""
        entry = self.entry(name)
        if entry.error:
            raise UnreadableSetError(f"set {name!r} cannot be shown: {entry.error}")
        result = self._load(entry.identity, entry.name)
        if isinstance(result, str):
            raise UnreadableSetError(f"set {name!r} cannot be shown: {result}")
        return result

    def _name_of(self, path: Path, stem: str) -> str:
        """``stem`` for a file in the folder itself, ``sub/dir/stem`` for one below it."""
        parent = path.parent.relative_to(self.directory)
        return stem if parent == Path(".") else f"{parent.as_posix()}/{stem}"

    def _pt_files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise NotFoundError(f"edit-set folder {self.directory} no longer exists")
        found = []
        for path in self.directory.rglob("*.pt"):
            relative = path.relative_to(self.directory)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            found.append(path)
        return found

    def _probe(self, identity: FileIdentity) -> tuple[int | None, str | None]:
        if identity not in self._probes:
            result = self._load(identity, edit_set_name(identity.path))
            self._probes[identity] = ((None, result) if isinstance(result, str)
                                      else (len(result), None))
        return self._probes[identity]

    def _load(self, identity: FileIdentity, name: str) -> LoadedSet | str:
        """The decoded set, or the one-line reason it does not load."""
        try:
            loaded = self._open.get_or_create(identity, lambda: self._decode(identity, name))
        except UserError as error:
            log.warning("%s", error)
            return str(error).replace(str(identity.path), identity.path.name)
        except Exception as error:  # a file we cannot show must not take the site down
            log.warning("%s does not load", identity.path, exc_info=True)
            first = (str(error).splitlines() or [""])[0][:200]
            return f"{identity.path.name}: {type(error).__name__}: {first}"
        loaded.name = name  # a name clash found by a later scan may have renamed it
        return loaded

    def _decode(self, identity: FileIdentity, name: str) -> LoadedSet:
        start = time.perf_counter()
        loaded = build_loaded_set(name, identity, load_edit_set(identity.path),
                                  fallback_class_names=self.fallback_class_names)
        log.info("loaded %s: %d images in %.2f s", identity.path.name, len(loaded),
                 time.perf_counter() - start)
        return loaded


def _unchanged(identity: FileIdentity) -> bool:
    try:
        return FileIdentity.of(identity.path) == identity
    except FileNotFoundError:
        return False
