"""Figures and a summary table from an experiment CSV.

Four PNGs (accuracy, drawdown and runtime against the edit-set size, and the success rate per
type) and the table as CSV and Markdown. The x axis is the *requested* size, the knob a
researcher turns; the table gives the mean *actual* size beside it. Lines are means over the
rows of a point (several target classes of a class_homogeneous_* type); the band spans their
range. Accuracy and drawdown use successful repairs only, since a failed repair changed
nothing; runtime uses every row that reached the solver and marks the failed ones.

Runtime is ``repair_runtime_seconds`` minus ``reference_seconds``: the first repair of a model
and layer computes the reference sample's second moment (tens of seconds for AlexNet) and every
later one reads it from the cache, so the raw number would make whichever point ran first look
slow. The CSV keeps both numbers.

When a CSV mixes settings (two margins, two bounds, ...), each combination gets its own line
style, so different settings are never averaged together.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, ScalarFormatter

from helpers import text_format
from helpers.atomic_io import atomic_write_text, atomic_write_with, check_writable
from helpers.errors import NotFoundError, UserError

REQUIRED = ("experiment_id", "repair_set_type", "requested_repair_set_size",
            "actual_repair_set_size", "repair_successful", "baseline_accuracy_test_set",
            "repaired_accuracy_test_set", "repair_runtime_seconds", "drawdown")
SETTINGS = {  # column -> short name in legends and footers
    "baseline_model_path": "model", "param_bound": "param bound", "margin": "margin",
    "layer": "layer", "norm": "norm", "geometry": "geometry", "edit_set_sizing_strategy": "sizing",
}
BAND_NOTE = "lines: mean over a point's rows (target classes); bands: their range"
SIZE = "requested_repair_set_size"
RUNTIME = "runtime_seconds"  # derived: repair runtime without the one-off reference sample
TYPE = "repair_set_type"
FIGURES = {
    "accuracy": "experiment_accuracy.png",
    "drawdown": "experiment_drawdown.png",
    "runtime": "experiment_runtime.png",
    "success": "experiment_success_rate.png",
}
TABLES = {"csv": "experiment_summary.csv", "markdown": "experiment_summary.md"}


def load_results(path: str | Path) -> pd.DataFrame:
    """Read an experiment CSV and check it has what the figures need."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path} not found; run `uv run python experiment_runner.py ...` "
                            "first or give the CSV's path")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not a readable CSV ({str(error).splitlines()[0]})") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks the columns {', '.join(missing)}; is it an experiment "
                        "CSV written by experiment_runner.py?")
    if frame.empty:
        raise UserError(f"{path} has a header but no rows yet; nothing to plot")
    frame["repair_successful"] = frame["repair_successful"].astype(str).str.lower() == "true"
    frame[RUNTIME] = frame["repair_runtime_seconds"]
    if "reference_seconds" in frame.columns:  # older CSVs lack it: their runtime stays raw
        frame[RUNTIME] = frame[RUNTIME] - frame["reference_seconds"].fillna(0.0)
    return frame


def output_paths(output_dir: str | Path) -> dict[str, Path]:
    output_dir = Path(output_dir)
    return {key: output_dir / name for key, name in {**FIGURES, **TABLES}.items()}


def write_report(frame: pd.DataFrame, output_dir: str | Path, *, force: bool = False
                 ) -> list[Path]:
    """Write every figure and both tables; all targets are checked first, so a refusal writes
    nothing."""
    paths = output_paths(output_dir)
    for path in paths.values():
        check_writable(path, force=force)
    frame, style, constant = _with_setting_label(frame)
    subtitle = ", ".join(f"{SETTINGS[k]} {v}" for k, v in constant.items())
    figures = {
        "accuracy": _accuracy_figure(frame, style),
        "drawdown": _drawdown_figure(frame, style),
        "runtime": _runtime_figure(frame, style),
        "success": _success_figure(frame, style),
    }
    for key, figure in figures.items():
        footer = subtitle if key == "success" else f"{subtitle}\n{BAND_NOTE}"
        figure.supxlabel(footer.strip(), fontsize=7.5, color="0.35")  # layout makes room
        try:
            atomic_write_with(paths[key],
                              lambda tmp, f=figure: f.savefig(tmp, dpi=120, format="png"))
        finally:
            plt.close(figure)
    table = summary_table(frame, style)
    atomic_write_text(paths["csv"], table.to_csv(index=False))
    atomic_write_text(paths["markdown"], markdown_table(table) + "\n")
    return list(paths.values())


def summary_table(frame: pd.DataFrame, style: str | None = None) -> pd.DataFrame:
    """One line per (type, requested size[, setting]): how often, how fast, at what cost.

    Accuracy and drawdown columns average successful repairs only; runtime is the median over
    rows that reached the solver, without the one-off reference sample (module docstring).
    """
    keys = [TYPE, SIZE] + ([style] if style else [])
    successful = frame[frame["repair_successful"]]
    grouped = frame.groupby(keys, sort=True)
    table = pd.DataFrame({
        "configurations": grouped.size(),
        "repaired": grouped["repair_successful"].sum().astype(int),
        "success_rate_percent": 100 * grouped["repair_successful"].mean(),
        "mean_actual_size": grouped["actual_repair_set_size"].mean(),
        "median_runtime_seconds": grouped[RUNTIME].median(),
        "base_test_accuracy_percent": 100 * grouped["baseline_accuracy_test_set"].mean(),
    })
    by_success = successful.groupby(keys, sort=True)
    table["repaired_test_accuracy_percent"] = 100 * by_success["repaired_accuracy_test_set"].mean()
    table["mean_drawdown_points"] = by_success["drawdown"].mean()
    table["max_drawdown_points"] = by_success["drawdown"].max()
    return table.reset_index()


def markdown_table(table: pd.DataFrame, *, digits: int = 2) -> str:
    """A GitHub Markdown table, numbers to ``digits`` decimals and blank where missing."""
    cells = table.astype(object).where(table.notna(), None)  # NaN -> a blank cell
    return text_format.markdown_table(cells.itertuples(index=False), list(table.columns),
                                      floatfmt=f".{digits}f")


# ----------------------------------------------------------------------------- figures


def _with_setting_label(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None, dict]:
    """A ``setting`` column naming the settings that vary, and the ones that do not."""
    present = [c for c in SETTINGS if c in frame.columns]
    varying = [c for c in present if frame[c].nunique(dropna=False) > 1]
    constant = {c: _short(c, frame[c].iloc[0]) for c in present if c not in varying}
    if not varying:
        return frame, None, constant
    frame = frame.copy()
    frame["setting"] = frame[varying].apply(
        lambda row: ", ".join(f"{SETTINGS[c]} {_short(c, row[c])}" for c in varying), axis=1)
    return frame, "setting", constant


def _short(column: str, value: object) -> str:
    if pd.isna(value):
        return "none"
    return Path(str(value)).name if column == "baseline_model_path" else str(value)


def _palette(frame: pd.DataFrame) -> dict[str, tuple]:
    """One colour per type, the same in every figure."""
    types = sorted(frame[TYPE].unique())
    return dict(zip(types, sns.color_palette("colorblind", len(types)), strict=True))


def _size_axis(axis: plt.Axes, frame: pd.DataFrame) -> None:
    sizes = sorted(frame[SIZE].unique())
    if len(sizes) > 1 and sizes[-1] / sizes[0] >= 4:
        axis.set_xscale("log")
    axis.xaxis.set_major_locator(FixedLocator(sizes))
    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.xaxis.set_minor_locator(NullLocator())
    axis.set_xlabel("edit-set size (images requested)")


def _lines(frame: pd.DataFrame, y: str, axis: plt.Axes, style: str | None,
           palette: dict, **kwargs) -> None:
    sns.lineplot(data=frame, x=SIZE, y=y, hue=TYPE, hue_order=sorted(frame[TYPE].unique()),
                 style=style, palette=palette, marker="o", errorbar=("pi", 100), ax=axis,
                 **kwargs)


def _nothing(axis: plt.Axes, text: str) -> None:
    axis.text(0.5, 0.5, text, ha="center", va="center", transform=axis.transAxes)


def _figure(title: str) -> tuple[plt.Figure, plt.Axes]:
    figure, axis = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    return figure, axis


def _accuracy_figure(frame: pd.DataFrame, style: str | None) -> plt.Figure:
    figure, axis = _figure("Test accuracy after repair")
    good = frame[frame["repair_successful"]].assign(
        percent=lambda f: 100 * f["repaired_accuracy_test_set"])
    if good.empty:
        _nothing(axis, "no successful repair to show")
    else:
        _lines(good, "percent", axis, style, _palette(frame))
    base = 100 * frame["baseline_accuracy_test_set"].mean()
    axis.axhline(base, color="0.3", linestyle="--", linewidth=1,
                 label=f"base model ({base:.1f}%)")
    axis.legend(fontsize=8)
    _size_axis(axis, frame)
    axis.set_ylabel("test accuracy after repair (%)")
    return figure


def _drawdown_figure(frame: pd.DataFrame, style: str | None) -> plt.Figure:
    figure, axis = _figure("Drawdown: accuracy lost on images outside the edit set")
    good = frame[frame["repair_successful"]]
    axis.axhline(0, color="0.3", linewidth=1)
    if good.empty:
        _nothing(axis, "no successful repair to show")
    else:
        _lines(good, "drawdown", axis, style, _palette(frame))
        axis.legend(fontsize=8)
    _size_axis(axis, frame)
    axis.set_ylabel("drawdown (percentage points, higher = worse)")
    return figure


def _runtime_figure(frame: pd.DataFrame, style: str | None) -> plt.Figure:
    figure, axis = _figure("Repair runtime")
    ran = frame[frame[RUNTIME].notna()]
    if ran.empty:
        _nothing(axis, "no repair reached the solver")
    else:
        _lines(ran, RUNTIME, axis, style, _palette(frame))
        failed = ran[~ran["repair_successful"]]
        if not failed.empty:
            axis.scatter(failed[SIZE], failed[RUNTIME], marker="x", s=60,
                         color="black", zorder=5, label="failed repair")
        axis.set_yscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.2, not 2 x 10^-1
        axis.yaxis.set_major_formatter(plain)
        axis.yaxis.set_minor_formatter(plain)
        axis.tick_params(axis="y", which="minor", labelsize=7)
        axis.legend(fontsize=8)
    _size_axis(axis, frame)
    axis.set_ylabel("repair runtime (seconds, log scale)\nwithout the one-off reference sample",
                    fontsize=9)
    return figure


def _success_figure(frame: pd.DataFrame, style: str | None) -> plt.Figure:
    figure, axis = _figure("Verified repairs per edit-set type")
    frame = frame.assign(percent=100 * frame["repair_successful"].astype(float),
                         size=frame[SIZE].astype(str))
    order = sorted(frame[SIZE].unique())
    sns.barplot(data=frame, x=TYPE, y="percent", hue="size", hue_order=[str(s) for s in order],
                errorbar=None, ax=axis, palette="crest")
    for container in axis.containers:
        axis.bar_label(container, fmt="%.0f%%", fontsize=7, padding=1)
    axis.set_ylim(0, 112)
    axis.set_xlabel("edit-set type" + (" (all settings pooled)" if style else ""))
    axis.set_ylabel("repairs verified (% of configurations)")
    axis.legend(title="images requested", fontsize=8, title_fontsize=8)
    axis.tick_params(axis="x", labelsize=8)
    return figure
