"""Tables and sizes for people to read: one renderer (tabulate) and one size formatter.

Every terminal table, Markdown summary and web page of the project goes through here, so a
number looks the same wherever it is printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

MISSING = "-"


def text_table(rows: Sequence[Sequence[Any]], headers: Sequence[str] = (), *,
               floatfmt: str = "g", colalign: Sequence[str] | None = None,
               numparse: bool = True) -> str:
    """A plain-text table: text left-aligned, numbers right-aligned, which keeps names and
    paths easy to scan. ``colalign`` overrides the per-column guess (a column of sizes such as
    ``3.3 KiB`` is text to tabulate but reads as numbers); ``numparse=False`` prints cells that
    are already formatted strings exactly as given."""
    return tabulate(rows, headers=list(headers), tablefmt="plain", floatfmt=floatfmt,
                    numalign="right", stralign="left", missingval=MISSING,
                    colalign=None if colalign is None else list(colalign),
                    disable_numparse=not numparse)


def markdown_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], *,
                   floatfmt: str = "g") -> str:
    """A GitHub Markdown table (numbers right-aligned)."""
    return tabulate(rows, headers=list(headers), tablefmt="github", floatfmt=floatfmt,
                    numalign="right", stralign="left", missingval="")


def file_size(size_bytes: float) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``193.2 MiB``, ``4.0 GiB``."""
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
