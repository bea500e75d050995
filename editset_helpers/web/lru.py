"""A small thread-safe LRU map whose missing values are built once, under its lock.

``functools.lru_cache`` keys on the call's arguments, but what the visualizer caches (decoded
sets, model outputs, PNGs) is keyed by a file identity while being built from objects that are
not hashable; this keeps the bound and the build-once guarantee without that constraint.
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
        self._lock = threading.RLock()

    def get_or_create(self, key: K, make: Callable[[], V]) -> V:
        """The value for ``key``, made by ``make()`` if absent (an exception caches nothing).

        ``make`` runs under the lock, so concurrent requests for the same costly value (a model
        pass over a set) wait for one computation instead of each starting their own.
        """
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = make()
            self._items[key] = value
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
            return value

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
