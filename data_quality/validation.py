"""The model's predictions against the labels: accuracy, where it misses, and calibration.

Per class, a *miss* is an image of that class predicted as another (a false negative of the
class) and a *false prediction* an image of another class predicted as it (a false positive).
Calibration: the images are binned by confidence (the top softmax probability) into equal-width
bins; the reliability diagram plots each bin's accuracy against its mean confidence, and the
expected calibration error is the bin-size-weighted mean gap, ``ECE = sum_b n_b/N |acc_b -
conf_b|`` (Guo et al., 2017, eq. 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import UserError


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 15
                     ) -> list[dict[str, Any]]:
    """Equal-width confidence bins over [0, 1]: count, mean confidence, accuracy (fractions).

    A confidence equal to a bin's upper edge falls in that bin (the first bin also takes 0).
    """
    if bins < 1:
        raise UserError(f"--bins must be at least 1, got {bins}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        member = which == b
        count = int(member.sum())
        rows.append({"lower": round(float(edges[b]), 6), "upper": round(float(edges[b + 1]), 6),
                     "count": count,
                     "mean_confidence": float(confidence[member].mean()) if count else None,
                     "accuracy": float(correct[member].mean()) if count else None})
    return rows


def expected_calibration_error(bins: list[dict[str, Any]]) -> float:
    """``sum_b n_b/N |accuracy_b - confidence_b|`` over non-empty bins (a fraction)."""
    total = sum(b["count"] for b in bins)
    if total == 0:
        return 0.0
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["mean_confidence"])
                     for b in bins if b["count"]))


def validate_predictions(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str],
                         *, bins: int = 15, dataset: str, split: str,
                         examples: int = 20) -> dict[str, Any]:
    """The report body: ``summary``, ``per_class``, ``confusion``, ``reliability`` and the
    most confident errors (``examples`` of them, with their keys)."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(labels) == 0:
        raise UserError("the split holds no images; there is nothing to validate")
    if not np.isfinite(probabilities).all():
        raise UserError("the model's probabilities hold NaN or infinity")
    k = len(class_names)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == labels
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = []
    for c, name in enumerate(class_names):
        images = int(confusion[c].sum())
        hits = int(confusion[c, c])
        row = confusion[c].copy()
        row[c] = 0
        column = confusion[:, c].copy()
        column[c] = 0
        per_class.append({
            "label": c, "class": name, "images": images, "correct": hits,
            "accuracy": hits / images if images else None,
            "misses": int(row.sum()),
            "most_often_predicted_instead": class_names[int(row.argmax())] if row.sum() else None,
            "false_predictions": int(column.sum()),
            "most_often_mistaken_for_it": (class_names[int(column.argmax())]
                                           if column.sum() else None),
            "mean_confidence": float(confidence[labels == c].mean()) if images else None,
        })
    reliability = reliability_bins(confidence, correct, bins)
    wrong = np.flatnonzero(~correct)
    worst = wrong[np.lexsort((wrong, -confidence[wrong]))][:examples]
    return {
        "summary": {
            "images": len(labels), "correct": int(correct.sum()),
            "accuracy": float(correct.mean()), "errors": int((~correct).sum()),
            "mean_confidence": float(confidence.mean()),
            "expected_calibration_error": expected_calibration_error(reliability),
            "bins": bins,
        },
        "per_class": per_class,
        "confusion": {"classes": list(class_names), "matrix": confusion.tolist(),
                      "rows": "given label", "columns": "predicted label"},
        "reliability": reliability,
        "most_confident_errors": [
            {"dataset": dataset, "split": split, "index": int(i),
             "given_label": int(labels[i]), "given_class": class_names[labels[i]],
             "predicted_label": int(predicted[i]), "predicted_class": class_names[predicted[i]],
             "confidence": round(float(confidence[i]), 6)} for i in worst],
    }


def reliability_diagram(reliability: list[dict[str, Any]], ece: float, path: str | Path, *,
                        title: str) -> Path:
    """A PNG: accuracy per confidence bin against the diagonal, with the counts below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.atomic_io import atomic_write_with

    centres = [(b["lower"] + b["upper"]) / 2 for b in reliability]
    width = reliability[0]["upper"] - reliability[0]["lower"]
    accuracy = [b["accuracy"] or 0.0 for b in reliability]
    confidence = [b["mean_confidence"] or 0.0 for b in reliability]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    top.bar(centres, accuracy, width=width * 0.95, color="#4c72b0", label="accuracy")
    top.bar(centres, confidence, width=width * 0.95, fill=False, edgecolor="#c44e52",
            linewidth=1.5, label="mean confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylabel("accuracy (fraction)")
    top.set_ylim(0, 1)
    top.set_title(f"{title}\nECE {100 * ece:.2f}%")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centres, [b["count"] for b in reliability], width=width * 0.95, color="#55a868")
    bottom.set_xlabel("confidence (top softmax probability)")
    bottom.set_ylabel("images")
    bottom.set_xlim(0, 1)
    figure.tight_layout()
    try:
        return atomic_write_with(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(figure)
