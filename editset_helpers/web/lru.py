"""A small thread-safe LRU map whose missing values are built once, outside the map's lock.

``functools.lru_cache`` keys on the call's arguments and holds no lock while building, so two
requests for the same costly value (a model pass over a set) would both compute it; what the
visualizer caches (decoded sets, model outputs, PNGs) is keyed by a file identity while being
built from objects that are not hashable. Here the map's lock guards only the dictionaries: a
value is built under a lock of its own key, so a slow build of one set never delays a request
for another set's cached page, and concurrent requests for the same key wait for one build.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """At most ``max_entries`` values; the least recently used goes first."""

    def __init__(self, max_entries: int):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()  # the two dictionaries only; never held while building
        self._building: dict[K, threading.Lock] = {}

    def get_or_create(self, key: K, make: Callable[[], V]) -> V:
        """The value for ``key``, made by ``make()`` if absent (an exception caches nothing).

        ``make`` runs under ``key``'s own lock: requests for the same key wait for that one
        build; requests for other keys go on.
        """
        found, value = self._lookup(key)
        if found:
            return value
        with self._lock:
            build_lock = self._building.setdefault(key, threading.Lock())
        with build_lock:
            found, value = self._lookup(key)  # another thread may have built it meanwhile
            if found:
                return value
            try:
                value = make()
            except BaseException:
                with self._lock:
                    self._building.pop(key, None)
                raise
            with self._lock:  # stored before the build lock is dropped: no second build
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.max_entries:
                    self._items.popitem(last=False)
                self._building.pop(key, None)
            return value

    def _lookup(self, key: K) -> tuple[bool, V | None]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True, self._items[key]
            return False, None

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
