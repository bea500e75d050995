"""Table and figure of the generalisation study (:mod:`edits.generalisation_study`).

The figure has one column per corruption: generalisation gain (points gained on the held-out
half under the same corruption) on top and drawdown (points lost on clean test images outside
the edit set) below, against the edit-set size, one line per method (provable repair at each
margin, fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers import text_format

Record = dict[str, Any]


def method_label(record: Record) -> str:
    if record["method"] == "repair":
        return f"repair, margin {record['margin']:g}"
    optimizer = record.get("optimizer", "adam")
    rate = record.get("learning_rate", 1e-3)
    return f"fine-tuning ({'Adam' if optimizer == 'adam' else 'SGD'}, lr {rate:g})"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def markdown_table(records: Sequence[Record]) -> str:
    """One row per trial: efficacy, generalisation before/after and gain, drawdown, time."""
    headers = ["corruption", "N", "method", "efficacy after", "generalisation before -> after",
               "gain (points)", "drawdown (points)", "other corruptions, mean change (points)",
               "seconds"]
    rows = [[f"{r['corruption']}-{r['severity']}", r["images"], method_label(r),
             _pct(r.get("efficacy_after")),
             f"{_pct(r.get('generalisation_before'))} -> {_pct(r.get('generalisation_after'))}",
             _points(r.get("generalisation_gain_points")), _points(r.get("drawdown_points")),
             _points(_other_change(r)), f"{r['seconds']:.1f}"] for r in records]
    return text_format.markdown_table(rows, headers)


def _other_change(record: Record) -> float | None:
    before, after = record.get("other_corruptions_before"), record.get("other_corruptions_after")
    if not before or not after:
        return None
    return 100 * sum(after[k] - before[k] for k in before) / len(before)


def plot(records: Sequence[Record], path: str | Path) -> Path:
    """Write the two-row figure (PNG) to ``path`` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.atomic_io import atomic_write_bytes

    corruptions = list(dict.fromkeys(r["corruption"] for r in records))
    methods = list(dict.fromkeys(method_label(r) for r in records))
    fig, axes = plt.subplots(2, len(corruptions), figsize=(3.6 * len(corruptions), 6.2),
                             sharex=True, squeeze=False)
    styles = {m: s for m, s in zip(methods, ["o-", "s--", "^:", "d-."], strict=False)}
    for column, corruption in enumerate(corruptions):
        for method in methods:
            chosen = sorted((r for r in records if r["corruption"] == corruption
                             and method_label(r) == method
                             and r.get("generalisation_gain_points") is not None),
                            key=lambda r: r["requested_size"])
            sizes = [r["requested_size"] for r in chosen]
            axes[0][column].plot(sizes, [r["generalisation_gain_points"] for r in chosen],
                                 styles[method], label=method)
            axes[1][column].plot(sizes, [r["drawdown_points"] for r in chosen], styles[method],
                                 label=method)
        severity = next(r["severity"] for r in records if r["corruption"] == corruption)
        axes[0][column].set_title(f"{corruption} (severity {severity})")
        axes[1][column].set_xlabel("edit images N")
        sizes_here = sorted({r["requested_size"] for r in records})
        for row in axes:
            row[column].set_xscale("log")
            row[column].set_xticks(sizes_here, [str(n) for n in sizes_here])
            row[column].minorticks_off()
            row[column].axhline(0, color="grey", linewidth=0.6)
            row[column].grid(alpha=0.3)
    axes[0][0].set_ylabel("generalisation gain\n(points, held-out half)")
    axes[1][0].set_ylabel("drawdown\n(points, clean test)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path
