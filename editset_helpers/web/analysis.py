"""What the pages say about a set: predictions in force, accuracy, confusions, verdicts.

A row's predicted class is the one its record carries (what the model believed when the set
was made); only a record without one takes the base model's prediction, and the summary says
which source was used. Accuracy of the loaded models is measured afresh on the set's images.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from editset_helpers.web.models import ROLES, VERDICTS, ModelOutput, Predictor, verdict
from editset_helpers.web.sets import LoadedSet

UNKNOWN = -1  # no prediction for this row: the record has none and no model is loaded
MAX_MATRIX_CLASSES = 20  # beyond this the confusion matrix keeps only the classes present
TOP_CONFUSIONS = 10


@dataclass
class SetAnalysis:
    """A loaded set with the model outputs and the per-row predictions and verdicts."""

    loaded: LoadedSet
    outputs: dict[str, ModelOutput]
    predicted: np.ndarray  # (N,) label in force, UNKNOWN when there is none
    from_record: np.ndarray  # (N,) bool: the predicted label is the record's own
    verdicts: list[str] | None  # one VERDICTS key per row, when base and repaired both ran

    def usable(self, role: str) -> ModelOutput | None:
        output = self.outputs.get(role)
        return output if output is not None and output.error is None else None

    def predicted_class(self, position: int) -> str | None:
        row = self.loaded.rows[position]
        if self.from_record[position]:
            return row.predicted_class
        label = int(self.predicted[position])
        return None if label == UNKNOWN else self.loaded.class_name(label)

    def model_view(self, role: str, position: int) -> dict[str, Any] | None:
        """A model's prediction for one image: label, class, and probabilities (fractions)."""
        output = self.usable(role)
        if output is None:
            return None
        probabilities = output.probabilities[position]
        label = int(probabilities.argmax())
        true_label = self.loaded.rows[position].true_label
        true_probability = (float(probabilities[true_label])
                            if 0 <= true_label < len(probabilities) else None)
        return {"predicted_label": label, "predicted_class": self.loaded.class_name(label),
                "probability": float(probabilities[label]), "true_probability": true_probability,
                "correct": label == true_label}

    def row_dict(self, position: int) -> dict[str, Any]:
        """One image for the JSON API and the gallery: record identity, predictions, verdict."""
        row = self.loaded.rows[position]
        return {
            "index": position, "image_idx": row.image_idx,
            "true_label": row.true_label, "true_class": row.true_class,
            "predicted_label": None if self.predicted[position] == UNKNOWN
            else int(self.predicted[position]),
            "predicted_class": self.predicted_class(position),
            "predicted_source": "record" if self.from_record[position]
            else ("base model" if self.predicted[position] != UNKNOWN else None),
            "score": row.score,
            "base": self.model_view("base", position),
            "repaired": self.model_view("repaired", position),
            "verdict": self.verdicts[position] if self.verdicts else None,
            "metadata": row.record,
        }

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Counts, accuracy, confusion matrix and top confusion pairs (computed once; read only)."""
        loaded, labels = self.loaded, self.loaded.labels
        known = self.predicted != UNKNOWN
        matrix_labels = _matrix_labels(loaded, self.predicted[known])
        where = {label: i for i, label in enumerate(matrix_labels)}
        matrix = np.zeros((len(matrix_labels), len(matrix_labels)), dtype=np.int64)
        for t, p in zip(labels[known].tolist(), self.predicted[known].tolist(), strict=True):
            matrix[where[t], where[p]] += 1
        pairs = Counter((t, p) for t, p in zip(labels[known].tolist(),
                                               self.predicted[known].tolist(), strict=True)
                        if t != p)
        top = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:TOP_CONFUSIONS]
        sources = {"record" if r else "base model" for r, k in zip(self.from_record, known,
                                                                   strict=True) if k}
        info = loaded.edit_set.info
        return {
            "name": loaded.name, "file": loaded.file, "images": len(loaded),
            "classes": len(set(labels.tolist())),
            "image_shape": list(loaded.edit_set.images.shape[1:]),
            "type": info.get("type") or _common(r.record.get("type") for r in loaded.rows),
            "score_key": loaded.score_key,
            "class_names": {str(k): v for k, v in loaded.class_names.items()},
            "predicted_source": (sources.pop() if len(sources) == 1 else
                                 "mixed" if sources else None),
            "predicted_known": int(known.sum()),
            "recorded_accuracy": _fraction((labels == self.predicted)[self.from_record]),
            "models": {role: self._model_summary(role) for role in ROLES},
            "verdicts": (None if self.verdicts is None else
                         {k: self.verdicts.count(k) for k in VERDICTS}),
            "true_class_counts": _counts(loaded, labels),
            "predicted_class_counts": _counts(loaded, self.predicted[known]),
            "confusion": {"labels": matrix_labels,
                          "classes": [loaded.class_name(c) for c in matrix_labels],
                          "matrix": matrix.tolist()},
            "top_confusions": [{"true_label": t, "true_class": loaded.class_name(t),
                                "predicted_label": p, "predicted_class": loaded.class_name(p),
                                "count": n} for (t, p), n in top],
            "info": {k: info.get(k) for k in ("type", "dataset", "split", "created",
                                              "parameters", "model", "available") if k in info},
        }

    def _model_summary(self, role: str) -> dict[str, Any] | None:
        output = self.outputs.get(role)
        if output is None:
            return None
        if output.error:
            return {"accuracy": None, "correct": None, "error": output.error}
        correct = output.predicted == self.loaded.labels
        return {"accuracy": _fraction(correct), "correct": int(correct.sum()), "error": None}


def analyze(loaded: LoadedSet, predictor: Predictor) -> SetAnalysis:
    """Combine a set's records with the loaded models' outputs (computed once per set)."""
    outputs = {role: out for role in ROLES if (out := predictor.output(loaded, role)) is not None}
    recorded = np.array([UNKNOWN if r.predicted_label is None else r.predicted_label
                         for r in loaded.rows], dtype=np.int64)
    from_record = recorded != UNKNOWN
    predicted = recorded.copy()
    base = outputs.get("base")
    if base is not None and base.error is None and not from_record.all():
        predicted[~from_record] = base.predicted[~from_record]
    verdicts = None
    repaired = outputs.get("repaired")
    if base is not None and repaired is not None and base.error is None and repaired.error is None:
        verdicts = [verdict(int(t), int(b), int(a)) for t, b, a in
                    zip(loaded.labels, base.predicted, repaired.predicted, strict=True)]
    return SetAnalysis(loaded, outputs, predicted, from_record, verdicts)


def _matrix_labels(loaded: LoadedSet, predicted: np.ndarray) -> list[int]:
    present = sorted(set(loaded.labels.tolist()) | set(predicted.tolist()))
    if len(loaded.class_names) <= MAX_MATRIX_CLASSES:
        return sorted(set(loaded.class_names) | set(present))
    return present


def _counts(loaded: LoadedSet, labels: np.ndarray) -> list[dict[str, Any]]:
    counts = Counter(labels.tolist())
    return [{"label": label, "class": loaded.class_name(label), "count": counts.get(label, 0)}
            for label in sorted(set(loaded.class_names) | set(counts))]


def _fraction(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if len(mask) else None


def _common(values: Any) -> str | None:
    distinct = set(values)
    return str(distinct.pop()) if len(distinct) == 1 else None
