"""The TracIn PDF report: settings, a written summary computed from the data, every figure.

One page per section (:func:`write_report` returns the section titles in page order), so a
reader can find a figure by the contents page and a test can count pages. The summary names
images by (data set, split, index) and says what to do with them: relabel or remove before
retraining.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from helpers.atomic_io import atomic_write_with, check_writable
from influence.plots import (
    LABEL,
    opponent_label_rates,
    self_figures,
    split_images,
    test_figure_set,
)
from influence.results import SelfInfluenceFile, TestInfluenceFile

DEFAULT_DIR = Path("results/tracin_reports")
TITLES = {
    "self_influence_distribution": "Self-influence: distribution",
    "self_influence_by_class": "Self-influence: mean by class",
    "self_influence_label_x_prediction": "Self-influence: given x predicted class (top 5%)",
    "self_influence_top_images": "Self-influence: highest images (normalised)",
    "self_influence_top_images_raw": "Self-influence: highest images (raw)",
    "self_influence_bottom_images": "Self-influence: lowest images",
    "self_influence_vs_loss_margin": "Self-influence against loss and margin",
    "test_influence_distributions": "Test influence: proponent and opponent scores",
    "test_influence_class_heatmap": "Test influence: edit class x proponent class",
    "test_influence_opponent_labels": "Test influence: strongest opponent's label",
}


def default_report_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    return DEFAULT_DIR / f"tracin_influence_report_{stamp}.pdf"


def likely_mislabelled(result: SelfInfluenceFile, *, count: int = 20) -> list[dict[str, Any]]:
    """The most self-influential images (normalised) whose label the model does not predict."""
    names = result.class_names
    order = np.argsort(-result.scores("normalized"), kind="stable")
    rows = []
    for position in order:
        given, predicted = (int(result.arrays["labels"][position]),
                            int(result.arrays["predicted"][position]))
        if given == predicted:
            continue
        rows.append({"image_idx": int(result.arrays["indices"][position]),
                     "given_class": names[given], "predicted_class": names[predicted],
                     "rank": int(np.nonzero(order == position)[0][0]) + 1,
                     "normalized": float(result.scores("normalized")[position]),
                     "raw": float(result.scores("raw")[position])})
        if len(rows) == count:
            break
    return rows


def self_summary(result: SelfInfluenceFile) -> list[str]:
    names, labels = result.class_names, result.arrays["labels"]
    lines = [f"Self-influence of {len(labels):,} {result.dataset}/{result.split} images."]
    for score in ("normalized", "raw"):
        values = result.scores(score)
        means = {names[k]: float(values[labels == k].mean()) for k in range(len(names))
                 if (labels == k).any()}
        top = sorted(means, key=means.get, reverse=True)[:3]
        lines.append(f"Most self-influential classes ({LABEL[score]}, mean): "
                     + ", ".join(f"{n} ({means[n]:.3g})" for n in top) + ".")
    share = 0.05
    k = max(1, round(share * len(labels)))
    wrong = labels != result.arrays["predicted"]
    for score in ("normalized", "raw"):
        top = np.argsort(-result.scores(score), kind="stable")[:k]
        lines.append(f"Of the top {k:,} by {LABEL[score]}, {100 * wrong[top].mean():.0f}% are "
                     f"predicted as another class than their label (all images: "
                     f"{100 * wrong.mean():.0f}%).")
    suspects = likely_mislabelled(result, count=12)
    if suspects:
        lines.append("Likely mislabelled (highest normalised self-influence, the model "
                      "disagrees with the label); review, then relabel to the predicted class "
                      "or remove before retraining:")
        lines += [f"  #{r['image_idx']}: labelled {r['given_class']}, predicted "
                  f"{r['predicted_class']} (rank {r['rank']}, {r['normalized']:.3g} normalised, "
                  f"{r['raw']:.3g} raw)" for r in suspects]
    return lines


def test_summary(result: TestInfluenceFile, suspects: set[int] | None = None) -> list[str]:
    names = result.class_names
    rates = opponent_label_rates(result)
    trained_on = len(result.arrays["train_indices"])
    lines = [f"Test influence of {len(result)} edit images against {trained_on:,} "
             f"{result.dataset}/{result.split} training images (top "
             f"{result.arrays['proponents_raw_index'].shape[1]} each way)."]
    for score in ("normalized", "raw"):
        lines.append(f"{LABEL[score]}: the strongest opponent carries the edit image's true label "
                     f"in {100 * rates[score]['opponents']:.0f}% of edit images, the strongest "
                     f"proponent in {100 * rates[score]['proponents']:.0f}%.")
    lines.append("Which training images explain which edit images (normalised; the strongest "
                 "proponent and opponent, and the class most top proponents carry):")
    for t in range(min(len(result), 12)):
        entry = result.explain(t, limit=None, score="normalized")
        pro, con = entry["proponents_normalized"], entry["opponents_normalized"]
        majority, votes = Counter(r["true_class"] for r in pro).most_common(1)[0]
        lines.append(f"  #{entry['image_idx']} ({entry['true_class']}, predicted "
                     f"{entry['predicted_class']}): + #{pro[0]['image_idx']} {pro[0]['true_class']}"
                     f", - #{con[0]['image_idx']} {con[0]['true_class']}; {votes}/{len(pro)} "
                     f"proponents are {majority}")
    opponents = Counter(int(i) for i in result.arrays["opponents_normalized_index"][:, :5].ravel())
    repeated = [(i, n) for i, n in opponents.most_common(10) if n > 1]
    if repeated:
        train_labels = result.train_label_of(np.array([i for i, _ in repeated]))
        lines.append("Training images among the top-5 opponents of several edit images "
                     "(candidates to relabel or remove before retraining"
                     + ("; * = also among the most self-influential" if suspects else "") + "):")
        lines += [f"  #{i} ({names[int(y)]}): {n} edit images"
                  + (" *" if suspects and i in suspects else "")
                  for (i, n), y in zip(repeated, train_labels, strict=True)]
    return lines


def text_page(title: str, lines: list[str]) -> Figure:
    fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    fig.text(0.06, 0.96, title, fontsize=15, weight="bold", va="top")
    wrapped: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()))
        wrapped += textwrap.wrap(line, 95, subsequent_indent=indent + "  ") or [""]
    fig.text(0.06, 0.92, "\n".join(wrapped[:80]), fontsize=8, family="monospace", va="top")
    return fig


def write_report(path: str | Path, *, self_result: SelfInfluenceFile | None = None,
                 test_result: TestInfluenceFile | None = None, data_root: str | Path = "data",
                 edit_images: np.ndarray | None = None, settings: dict[str, Any] | None = None,
                 force: bool = False) -> tuple[Path, list[str]]:
    """Write the PDF; returns its path and the section titles, one per page, in order."""
    path = check_writable(path, force=force)
    sections: list[tuple[str, Any]] = []
    settings_lines = [f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}."]
    suspects: set[int] = set()
    summary: list[str] = []
    for result in (self_result, test_result):
        if result is None:
            continue
        first = result.summary.get("checkpoints", [])
        settings_lines += [f"{result.path.name}: {result.summary.get('format', '')}",
                           *(f"  epoch {c['epoch']}: lr {c['learning_rate']:.4g}, "
                             f"{c['path']}" for c in first),
                           *(f"  {k}: {v}" for k, v in result.summary.get("settings", {}).items()
                             if v not in (None, {}, []))]
    settings_lines += [f"{k}: {v}" for k, v in (settings or {}).items()]
    figures: dict[str, Any] = {}
    if self_result is not None:
        summary += [*self_summary(self_result), ""]
        suspects = {r["image_idx"] for r in likely_mislabelled(self_result, count=200)}
        images = split_images(self_result.dataset, self_result.split, data_root=data_root)
        figures.update(self_figures(self_result, images))
    if test_result is not None:
        summary += test_summary(test_result, suspects)
        figures.update(test_figure_set(test_result, data_root=data_root,
                                       edit_images=edit_images, max_strips=16))
    sections.append(("Settings", lambda: text_page("TracIn influence report: settings",
                                                    settings_lines)))
    sections.append(("Summary and recommendations",
                     lambda: text_page("Summary and recommendations", summary)))
    for name, make in figures.items():
        title = TITLES.get(name) or ("Test influence: strips, " + name.split("_strips_")[1]
                                     .replace("_", " images from "))
        sections.append((title, lambda m=make, t=title: _titled(m(), t)))

    def write(target: Path) -> None:
        with PdfPages(target) as pdf:
            for _, make in sections:
                fig = make()
                pdf.savefig(fig)
                plt.close(fig)
            info = pdf.infodict()
            info["Title"] = "TracIn influence report"

    atomic_write_with(path, write)
    return path, [title for title, _ in sections]


def _titled(fig: Figure, title: str) -> Figure:
    fig.text(0.01, 0.995, title, fontsize=9, va="top", color="0.3")
    return fig
