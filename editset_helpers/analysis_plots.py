"""Histograms of an analysed edit-set folder, one PNG per set.

Each figure has three panels: the confidence histogram, the margin histogram and the images per
class (true vs predicted). A set without a score gets a panel that says so, not a missing one,
so figures of different sets line up.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from editset_helpers.analysis import EditSetSummary, FolderAnalysis
from helpers.atomic_io import atomic_write_with, check_writable

PLOT_SUFFIX = "_analysis.png"
MAX_CLASSES = 20  # bars beyond this are unreadable; the JSON has every class


def plot_path(summary: EditSetSummary, out_dir: str | Path) -> Path:
    """``<out_dir>/<label>_analysis.png``; a set in a subfolder gets ``sub__name``."""
    return Path(out_dir) / f"{summary.label.replace('/', '__')}{PLOT_SUFFIX}"


def write_plots(analysis: FolderAnalysis, out_dir: str | Path, *, force: bool = False
                ) -> list[Path]:
    """Write every set's figure; check all targets first so a refusal writes nothing."""
    targets = [(s, plot_path(s, out_dir)) for s in analysis.sets]
    for _, path in targets:
        check_writable(path, force=force)
    written = []
    for summary, path in targets:
        figure = plot_summary(summary)
        try:
            atomic_write_with(path, lambda tmp, f=figure: f.savefig(tmp, dpi=110, format="png"))
        finally:
            plt.close(figure)
        written.append(path)
    return written


def plot_summary(summary: EditSetSummary) -> plt.Figure:
    scores = summary.scores if summary.scores is not None else pd.DataFrame()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    _histogram(axes[0], scores, "confidence", "confidence (top-class probability)",
               summary.confidence_field)
    _histogram(axes[1], scores, "margin", "margin p(predicted) - p(true)", summary.margin_field)
    _class_bars(axes[2], summary)
    figure.suptitle(f"{summary.label}: {summary.num_samples} images ({summary.set_type})")
    return figure


def _histogram(axis: plt.Axes, scores: pd.DataFrame, column: str, title: str,
               source: str | None) -> None:
    values = scores[column].dropna() if column in scores else pd.Series(dtype=float)
    axis.set_title(title if source in (None, column) else f"{title}\nfrom {source}", fontsize=10)
    if values.empty:
        axis.text(0.5, 0.5, "no such score in this set", ha="center", va="center",
                  transform=axis.transAxes)
        axis.set_xticks([])
        axis.set_yticks([])
        return
    # Bins over the data's own range: a closest set's margins crowd near 0, and a fixed [0, 1]
    # axis would put them all in one bar.
    sns.histplot(values, bins=20, ax=axis)
    axis.set_xlabel(column)
    axis.set_ylabel("images")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))


def _class_bars(axis: plt.Axes, summary: EditSetSummary) -> None:
    """True vs predicted counts of the most frequent classes (all of them for CIFAR-10)."""
    columns = {"true": pd.Series(summary.true_class_counts, dtype=int)}
    if summary.predicted_class_counts is not None:
        columns["predicted"] = pd.Series(summary.predicted_class_counts, dtype=int)
    counts = pd.DataFrame(columns).fillna(0).astype(int)
    total = len(counts)
    shown = counts.sum(axis=1).sort_values(ascending=False, kind="stable").index[:MAX_CLASSES]
    counts = counts.loc[sorted(shown, key=lambda name: summary.class_ids.get(name, 0))]
    long = counts.rename_axis("class").reset_index().melt(id_vars="class", var_name="label as",
                                                          value_name="images")
    sns.barplot(long, x="class", y="images", hue="label as", ax=axis)
    more = f" (top {MAX_CLASSES} of {total})" if total > MAX_CLASSES else ""
    axis.set_title(f"images per class{more}", fontsize=10)
    axis.tick_params(axis="x", labelrotation=45)
    axis.set_xlabel("")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
