"""JSON that every parser reads: NaN and infinity become ``null`` and are named in a note.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which strict parsers (browsers'
``JSON.parse``, ``jq``) refuse. A non-finite number in a report is real information (a solver
that returned NaN), so it is not dropped silently: the document says which fields were not
finite in ``non_finite_note``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

NOTE_KEY = "non_finite_note"


def finite_only(value: Any, default: Callable[[Any], Any] | None = None) -> tuple[Any, list[str]]:
    """``value`` with every non-finite float replaced by ``None``, and where each one was."""
    found: list[str] = []

    def walk(item: Any, where: str) -> Any:
        if isinstance(item, float):
            if math.isfinite(item):
                return item
            found.append(f"{where or '<root>'} ({item})")
            return None
        if isinstance(item, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(item)]
        if item is None or isinstance(item, str | int | bool):
            return item
        if default is not None:
            return walk(default(item), where)
        return item

    return walk(value, ""), found


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, **options: Any) -> str:
    """``json.dumps`` with ``allow_nan=False``; non-finite numbers as ``null`` plus a note."""
    clean, found = finite_only(value, default)
    if found and isinstance(clean, dict):
        clean[NOTE_KEY] = ("these values were not finite and are written as null: "
                           + ", ".join(found[:20]) + (" ..." if len(found) > 20 else ""))
    return json.dumps(clean, allow_nan=False, default=default, **options)
