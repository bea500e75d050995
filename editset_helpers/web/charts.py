"""Charts drawn on the server as PNG with matplotlib's Agg backend.

The visualizer runs on offline machines, so there is no JavaScript charting library to fetch:
every chart is a PNG the page links to. Figures are built with ``matplotlib.figure.Figure``,
never pyplot, so no global figure state is shared between request threads; a lock still
serialises drawing because matplotlib's text and font caches are not thread-safe. Plain
matplotlib, not seaborn: seaborn would bring pandas and scipy into the server for one heatmap,
seconds of start-up on a busy two-core machine.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: no display on a server

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

_DRAW_LOCK = threading.Lock()
TRUE_COLOUR, PREDICTED_COLOUR = "#4c72b0", "#dd8452"
RIGHT_COLOUR, WRONG_COLOUR, OTHER_COLOUR = "#55a868", "#c44e52", "#a9b4c2"
DPI = 110


def class_distribution_png(classes: Sequence[str], true_counts: Sequence[int],
                           predicted_counts: Sequence[int] | None) -> bytes:
    """Grouped bars: how many images each class has as true and as predicted label."""
    with _DRAW_LOCK:
        fig = Figure(figsize=(max(5.0, 0.55 * len(classes) + 2), 4.0), dpi=DPI)
        ax = fig.add_subplot()
        x = np.arange(len(classes))
        width = 0.4 if predicted_counts is not None else 0.7
        shift = width / 2 if predicted_counts is not None else 0.0
        ax.bar(x - shift, true_counts, width, label="true class", color=TRUE_COLOUR)
        if predicted_counts is not None:
            ax.bar(x + shift, predicted_counts, width, label="predicted class",
                   color=PREDICTED_COLOUR)
        ax.set_xticks(x, classes, rotation=35, ha="right")
        ax.set_ylabel("images")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncols=2)
        _tidy(ax, "y")
        return _png(fig)


def confusion_png(classes: Sequence[str], matrix: Sequence[Sequence[int]]) -> bytes:
    """Counts of true (rows) against predicted (columns) class; zero cells are left blank."""
    data = np.asarray(matrix, dtype=np.int64).reshape(len(classes), len(classes))
    side = max(4.2, 0.5 * len(classes) + 2.2)
    with _DRAW_LOCK:
        fig = Figure(figsize=(side + 1.0, side), dpi=DPI)
        ax = fig.add_subplot()
        image = ax.imshow(data, cmap="Blues", vmin=0, vmax=max(1, int(data.max())))
        colorbar = fig.colorbar(image, ax=ax, shrink=0.8, label="images")
        colorbar.locator = MaxNLocator(integer=True)  # counts: no 2.5 images
        colorbar.update_ticks()
        ticks = np.arange(len(classes))
        ax.set_xticks(ticks, classes, rotation=45, ha="right")
        ax.set_yticks(ticks, classes)
        ax.set_xticks(ticks[:-1] + 0.5, minor=True)
        ax.set_yticks(ticks[:-1] + 0.5, minor=True)
        ax.grid(which="minor", color="#eef1f5", linewidth=0.8)
        ax.tick_params(which="minor", length=0)
        ax.spines[:].set_visible(False)
        if len(classes) <= 20:
            dark = data > 0.6 * data.max()
            for (row, column), count in np.ndenumerate(data):
                if count:
                    ax.text(column, row, str(count), ha="center", va="center", fontsize=8,
                            color="white" if dark[row, column] else "#1f2933")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        return _png(fig)


def probabilities_png(classes: Sequence[str], panels: Sequence[tuple[str, np.ndarray]],
                      true_label: int) -> bytes:
    """One horizontal bar chart per model, side by side, over the same classes.

    The true class is green, the predicted class red when it is wrong, the rest grey.
    """
    with _DRAW_LOCK:
        height = max(2.6, 0.3 * len(classes) + 1.0)
        fig = Figure(figsize=(4.0 * len(panels) + 1.2, height), dpi=DPI, layout="constrained")
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        y = np.arange(len(classes))
        for ax, (title, probabilities) in zip(axes, panels, strict=True):
            guess = int(np.argmax(probabilities))
            colours = [RIGHT_COLOUR if c == true_label else
                       WRONG_COLOUR if c == guess else OTHER_COLOUR for c in range(len(classes))]
            ax.barh(y, probabilities, color=colours)
            for c, p in enumerate(probabilities):
                ax.text(min(p + 0.02, 0.86), c, f"{p:.2f}", va="center", fontsize=8)
            ax.set_xlim(0, 1)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("probability")
            _tidy(ax, "x")
        axes[0].set_yticks(y, classes)
        axes[0].invert_yaxis()
        return _png(fig, tight=False)


def _tidy(ax, grid: str) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis=grid, color="#e5e8ec", linewidth=0.8)
    ax.set_axisbelow(True)


def _png(fig: Figure, *, tight: bool = True) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight" if tight else None,
                facecolor="white")
    return buffer.getvalue()
