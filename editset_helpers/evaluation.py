"""Accuracy on a split, on an edit set, and on the drawdown set.

The drawdown set is the test split minus the edit set's images, matched by (data set, split,
index): it measures what a repair cost the model on images it was not asked to change.
:func:`evaluate_model` computes all three in one pass over the split; ``eval.py``, the repair
engine and the experiment runner report the same numbers because they call the same function.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from editset_helpers.io import EditSet
from helpers.datasets import ImageSplit
from helpers.errors import UserError
from helpers.inference import predict_logits
from model_classes.checkpoints import LoadedModel

log = logging.getLogger(__name__)

REPORT_FORMAT = "alexnet-repair-evaluation/1"


@dataclass
class Accuracy:
    """Accuracy (fraction in [0, 1]), per-class accuracy, and confusion counts (rows: true)."""

    name: str
    count: int
    correct: int
    per_class: list[float | None]
    confusion: list[list[int]]
    class_names: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; an empty set's accuracy is ``None`` (JSON has no NaN).

        ``per_class_accuracy`` is a list aligned with ``class_names``, not a dict keyed by name:
        real class lists repeat names (ImageNet has two ``crane`` classes).
        """
        return {"name": self.name, "images": self.count, "correct": self.correct,
                "accuracy": self.accuracy if self.count else None,
                "per_class_accuracy": list(self.per_class),
                "confusion_matrix": self.confusion, "class_names": self.class_names}


def accuracy_from_predictions(name: str, predicted: torch.Tensor, labels: torch.Tensor,
                              class_names: Sequence[str]) -> Accuracy:
    """Count right answers per true class; ``predicted`` and ``labels`` are ``(N,)`` class ids."""
    k = len(class_names)
    predicted, labels = torch.as_tensor(predicted).long(), torch.as_tensor(labels).long()
    if predicted.shape != labels.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(labels)} labels")
    for what, ids in (("label", labels), ("prediction", predicted)):
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= k):
            raise UserError(f"{name}: {what} {int(ids.max())} is outside the {k} classes "
                            f"0..{k - 1}; do the model, data set and edit set belong together?")
    confusion = torch.zeros(k, k, dtype=torch.long)
    if len(labels):
        confusion.index_put_((labels, predicted), torch.ones(len(labels), dtype=torch.long),
                             accumulate=True)
    totals = confusion.sum(dim=1)
    per_class = [float(confusion[c, c] / totals[c]) if totals[c] else None for c in range(k)]
    return Accuracy(name, len(labels), int(torch.diagonal(confusion).sum()), per_class,
                    confusion.tolist(), list(class_names))


def drawdown_indices(split: ImageSplit, edit_records: Iterable[dict[str, Any]]) -> torch.Tensor:
    """Indices of ``split`` that are not images of the edit set (matched by data set and split).

    Records from another data set or split do not remove anything: the whole split is then the
    drawdown set. A record that does not name its data set or split is taken to come from
    ``split``. Records without an ``image_idx`` cannot be matched and are an error.
    """
    excluded = set()
    for record in edit_records:
        if record.get("dataset") not in (None, split.dataset):
            continue
        if record.get("split") not in (None, split.split):
            continue
        index = record.get("image_idx")
        if index is None:
            raise UserError("an edit-set record has no image_idx, so the drawdown set cannot "
                            "exclude it; regenerate the edit set with editset_generator.py")
        excluded.add(int(index))
    keep = torch.ones(len(split), dtype=torch.bool)
    if excluded:
        split.check_indices(sorted(excluded))
        keep[sorted(excluded)] = False
    return torch.nonzero(keep).flatten()


@dataclass
class EvaluationReport:
    """One model judged on a split and, when an edit set is given, on it and its drawdown set.

    ``test`` is the accuracy on the whole evaluated split (the test split unless another was
    asked for); ``drawdown`` is on that split minus the ``excluded`` edit-set images.
    """

    dataset: str
    split: str
    test: Accuracy
    edit: Accuracy | None = None
    drawdown: Accuracy | None = None
    excluded: int = 0
    model: dict[str, Any] = field(default_factory=dict)
    edit_set: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``format`` names its version); accuracies are fractions in [0, 1]."""
        return {
            "format": REPORT_FORMAT,
            "dataset": self.dataset,
            "split": self.split,
            "model": dict(self.model),
            "edit_set": None if self.edit_set is None else {
                **self.edit_set, "drawdown_excluded_images": self.excluded},
            "test": self.test.to_dict(),
            "edit": self.edit.to_dict() if self.edit else None,
            "drawdown": self.drawdown.to_dict() if self.drawdown else None,
        }


def evaluate_model(loaded: LoadedModel, split: ImageSplit, edit_set: EditSet | None = None, *,
                   predicted: torch.Tensor | None = None, batch_size: int = 500,
                   progress: bool = True) -> EvaluationReport:
    """Accuracy of ``loaded`` on ``split``, and on ``edit_set`` and its drawdown set if given.

    The split is predicted once; the drawdown set reuses those predictions, so ``test``,
    ``drawdown`` and the excluded images always add up. Edit-set images (float in [0, 1]) go to
    the model as they are, exactly as the repair saw them, not looked up again in the split.

    Parameters
    ----------
    loaded : the model and its metadata (``model_classes.checkpoints.load_checkpoint``), or a
        repaired model in memory (``path`` may be ``None``).
    split : the split to judge on; for the drawdown set, the split the edit set was drawn from.
    edit_set : optional; its records' ``image_idx`` (with ``dataset``/``split``, or the set's
        own) say which images of ``split`` leave the drawdown set.
    predicted : optional ``(N,)`` class ids the model gives ``split``, when the caller already
        has them (a logits cache, a base model judged before a repair); skips that forward pass.

    Raises
    ------
    UserError
        the model's class count differs from the split's, an edit-set label or index falls
        outside the split, or the edit-set images have another channel count than the split's.
    """
    names = list(split.class_names)
    if edit_set is not None:  # cheap checks before the forward pass over the whole split
        _check_edit_set_fits(edit_set, split)
    if predicted is None:
        predicted = _predict(loaded, split.images, split.num_classes, split.dataset,
                             batch_size=batch_size,
                             progress=f"evaluating {split.split}" if progress else False)
    elif predicted.shape != split.labels.shape:
        raise ValueError(f"predicted has shape {tuple(predicted.shape)}, the split "
                         f"{tuple(split.labels.shape)}")
    report = EvaluationReport(
        dataset=split.dataset, split=split.split,
        test=accuracy_from_predictions(split.split, predicted, split.labels, names),
        model={"path": str(loaded.path) if loaded.path else None,
               "architecture": loaded.metadata.architecture,
               "num_classes": loaded.metadata.num_classes,
               "recorded_test_accuracy": loaded.metadata.test_accuracy},
    )
    if edit_set is None:
        return report

    edit_predicted = _predict(loaded, edit_set.images, split.num_classes, split.dataset,
                              batch_size=batch_size, progress=False)
    report.edit = accuracy_from_predictions("edit set", edit_predicted, edit_set.labels, names)

    records = _records_with_source(edit_set)
    keep = drawdown_indices(split, records)
    report.excluded = len(split) - len(keep)
    if report.excluded == 0 and len(edit_set):
        log.warning("no edit-set image comes from %s/%s: the drawdown set is the whole split",
                    split.dataset, split.split)
    report.drawdown = accuracy_from_predictions("drawdown", predicted[keep], split.labels[keep],
                                                names)
    report.edit_set = {"path": str(edit_set.path) if edit_set.path else None,
                       "images": len(edit_set), "type": edit_set.info.get("type")}
    return report


def _predict(loaded: LoadedModel, images: torch.Tensor, num_classes: int, dataset: str, *,
             batch_size: int, progress: bool | str) -> torch.Tensor:
    """Predicted class ids ``(N,)``, refusing a model built for another number of classes."""
    if not len(images):
        return torch.empty(0, dtype=torch.long)
    logits = predict_logits(loaded.model, images, batch_size=batch_size, progress=progress)
    if logits.shape[1] != num_classes:
        raise UserError(f"the model predicts {logits.shape[1]} classes but {dataset} has "
                        f"{num_classes}; use weights trained on this data set")
    return logits.argmax(dim=1)


def _check_edit_set_fits(edit_set: EditSet, split: ImageSplit) -> None:
    if not len(edit_set):
        return
    if edit_set.images.shape[1] != split.images.shape[1]:
        raise UserError(f"edit set images have {edit_set.images.shape[1]} channels but "
                        f"{split.dataset} images have {split.images.shape[1]}")
    top = int(edit_set.labels.max())
    if top >= split.num_classes:
        raise UserError(f"edit set: label {top} is outside the {split.num_classes} classes "
                        f"0..{split.num_classes - 1} of {split.dataset}; was it made for "
                        "another data set?")


def _records_with_source(edit_set: EditSet) -> list[dict[str, Any]]:
    """Per-image records; a record without its data set or split gets the set's own."""
    defaults = {key: edit_set.info[key] for key in ("dataset", "split") if edit_set.info.get(key)}
    return [{**defaults, **{k: v for k, v in record.items() if v is not None or k == "image_idx"}}
            for record in edit_set.metadata]


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


def format_accuracy_summary(result: Accuracy) -> str:
    """One line: name, accuracy in percent, and the counts it comes from."""
    if not result.count:
        return f"{result.name}: no images"
    return f"{result.name}: {_percent(result.accuracy)} ({result.correct} of {result.count} images)"


def format_accuracy_table(result: Accuracy, *, max_confusion_classes: int = 20) -> str:
    """Per-class accuracy and (for up to ``max_confusion_classes`` classes) the confusion matrix.

    A 1000-class confusion matrix is a million numbers nobody reads in a terminal; it stays in
    the JSON report instead.
    """
    names = result.class_names
    id_width = len(str(max(len(names) - 1, 0)))
    name_width = max([5, *(len(n) for n in names)])
    lines = [format_accuracy_summary(result)]
    lines.append(f"  {'':>{id_width}} {'class':<{name_width}}  accuracy  images")
    for c, name in enumerate(names):
        total = sum(result.confusion[c])
        lines.append(f"  {c:>{id_width}} {name:<{name_width}}  {_percent(result.per_class[c]):>8}"
                     f"  {total:6d}")
    if len(names) > max_confusion_classes:
        lines.append(f"  (confusion matrix of {len(names)} classes omitted; see the JSON report)")
        return "\n".join(lines)
    cell = max(5, len(str(max((max(row) for row in result.confusion), default=0))) + 1)
    lines.append("  confusion matrix (rows: true class, columns: predicted class)")
    header = "".join(f"{c:>{cell}d}" for c in range(len(names)))
    lines.append(f"  {'':>{id_width}} {'':<{name_width}}{header}")
    for c, row in enumerate(result.confusion):
        lines.append(f"  {c:>{id_width}} {names[c]:<{name_width}}"
                     + "".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)
