"""Gallery queries: request parameters -> filtered, sorted, paginated image positions.

The same parsing serves the HTML gallery and ``/api/sets/<name>/images``, so both answer the
same question the same way; a bad parameter is a :class:`QueryError` naming the parameter.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from editset_helpers.web.analysis import SetAnalysis
from editset_helpers.web.models import VERDICTS
from helpers.cli import parse_integer
from helpers.errors import UserError

SORTS = {"index": "set order", "score": "score, lowest first", "-score": "score, highest first",
         "image_idx": "index in the source split"}
DEFAULT_PER_PAGE = 60
MAX_PER_PAGE = 2000


class QueryError(UserError):
    """A request parameter the gallery cannot use (HTTP 400)."""


@dataclass(frozen=True)
class ImageQuery:
    """Which images of a set to show; ``None`` means no filter."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    true_class: int | None = None
    predicted_class: int | None = None
    min_score: float | None = None
    max_score: float | None = None
    verdict: str | None = None
    sort: str = "index"

    @classmethod
    def parse(cls, args: Mapping[str, str], analysis: SetAnalysis) -> ImageQuery:
        """Read query parameters; empty values mean "not set" (what an untouched form sends)."""
        def value(name: str) -> str | None:
            raw = args.get(name)
            return raw.strip() if raw is not None and raw.strip() else None

        loaded = analysis.loaded
        query = cls(
            page=_integer(value("page"), "page", 1, None, 1),
            per_page=_integer(value("per_page"), "per_page", 1, MAX_PER_PAGE, DEFAULT_PER_PAGE),
            true_class=_class(value("true_class"), "true_class", loaded.class_names),
            predicted_class=_class(value("predicted_class"), "predicted_class",
                                   loaded.class_names),
            min_score=_number(value("min_score"), "min_score"),
            max_score=_number(value("max_score"), "max_score"),
            verdict=value("verdict"),
            sort=value("sort") or "index",
        )
        if query.sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, got {query.sort!r}")
        needs_score = query.min_score is not None or query.max_score is not None or \
            query.sort in ("score", "-score")
        if needs_score and loaded.score_key is None:
            raise QueryError(f"set {loaded.name!r} carries no score (margin, confidence or "
                             "predicted_probability), so min_score, max_score and sort=score "
                             "do not apply")
        if query.verdict is not None:
            if query.verdict not in VERDICTS:
                raise QueryError(f"verdict must be one of {', '.join(VERDICTS)}, got "
                                 f"{query.verdict!r}")
            if analysis.verdicts is None:
                raise QueryError("verdicts need both models: start the visualizer with --weights "
                                 "and --repaired")
        return query

    def to_args(self, **changes: object) -> dict[str, object]:
        """The non-default parameters (with ``changes``), for links that keep the filters."""
        merged = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        defaults = ImageQuery()
        return {k: v for k, v in merged.items() if v is not None and v != getattr(defaults, k)}


@dataclass(frozen=True)
class ImagePage:
    query: ImageQuery
    total: int  # images that pass the filters
    positions: list[int]  # this page's images, as positions in the set

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.query.per_page))


def run_query(analysis: SetAnalysis, query: ImageQuery) -> ImagePage:
    """Filter, sort and cut one page; positions index :attr:`LoadedSet.rows`."""
    rows = analysis.loaded.rows
    positions = [
        row.position for row in rows
        if (query.true_class is None or row.true_label == query.true_class)
        and (query.predicted_class is None
             or int(analysis.predicted[row.position]) == query.predicted_class)
        and (query.min_score is None or row.score >= query.min_score)
        and (query.max_score is None or row.score <= query.max_score)
        and (query.verdict is None or analysis.verdicts[row.position] == query.verdict)
    ]
    if query.sort in ("score", "-score"):  # stable: ties keep set order
        positions.sort(key=lambda p: rows[p].score, reverse=query.sort == "-score")
    elif query.sort == "image_idx":
        positions.sort(key=lambda p: (rows[p].image_idx is None, rows[p].image_idx or 0))
    start = (query.page - 1) * query.per_page
    return ImagePage(query, len(positions), positions[start:start + query.per_page])


def _integer(raw: str | None, name: str, low: int, high: int | None, default: int) -> int:
    if raw is None:
        return default
    number = _strict_integer(raw, name)
    if number < low or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise QueryError(f"{name} must be {bounds}, got {number}")
    return number


def _strict_integer(raw: str, name: str) -> int:
    """The one strict parser (ASCII digits, bounded length) the command line uses too: ``²``
    passes ``str.isdigit`` but not ``int``, and a 5,000-digit number must not reach ``int``."""
    try:
        return parse_integer(raw)
    except argparse.ArgumentTypeError:
        shown = raw if len(raw) <= 24 else f"{raw[:20]}... ({len(raw)} characters)"
        raise QueryError(f"{name} must be a whole number (digits 0-9), got {shown!r}") from None


def _number(raw: str | None, name: str) -> float | None:
    if raw is None:
        return None
    try:
        number = float(raw)
    except ValueError:
        raise QueryError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(number):
        raise QueryError(f"{name} must be a finite number, got {raw!r}")
    return number


def _class(raw: str | None, name: str, class_names: Mapping[int, str]) -> int | None:
    """A class given by label (``3``) or by name (``cat``, any case)."""
    if raw is None:
        return None
    if raw.lstrip("+-").isdigit():  # any label: one the set lacks simply matches no image
        return _strict_integer(raw, name)
    by_name = {v.lower(): k for k, v in class_names.items()}
    if raw.lower() in by_name:
        return by_name[raw.lower()]
    known = ", ".join(f"{k} ({v})" for k, v in class_names.items())
    raise QueryError(f"{name}={raw!r} is not a class of this set; use a label or name: {known}")
