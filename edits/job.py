"""A repair job as users run it: files in, repaired checkpoint and JSON report out.

Before and after the repair it measures accuracy on the test split, on the edit set and on the
drawdown set (the test split minus the edit set's images): the three numbers that say whether
a repair fixed what it was asked to and what it cost elsewhere.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from edits.config import RepairConfig
from edits.generalisation import (
    GeneralisationResult,
    GeneralisationSet,
    generalisation_accuracy,
)
from edits.head import cached_layer_inputs, head_predictions, supports_head
from edits.layer_choice import choose_layer
from edits.repair import RepairResult, repair
from editset_helpers.evaluation import Accuracy, evaluate_model
from editset_helpers.io import EditSet
from helpers.atomic_io import atomic_write_json, check_writable
from helpers.datasets import ImageSplit
from helpers.errors import UserError
from helpers.file_pairs import check_pair, write_pair
from helpers.text_format import text_table
from model_classes.checkpoints import LoadedModel, ModelMetadata, save_checkpoint

log = logging.getLogger(__name__)


@dataclass
class Accuracies:
    """Fractions in [0, 1] (None for an empty set); ``drawdown_images`` sizes the drawdown set."""

    test: float | None
    edit: float | None
    drawdown: float | None
    drawdown_images: int

    def to_dict(self) -> dict[str, float | None]:
        return vars(self).copy()


@dataclass
class JobResult:
    repair: RepairResult
    before: Accuracies
    after: Accuracies | None
    report: dict[str, Any]
    output: Path | None = None
    report_path: Path | None = None
    generalisation: GeneralisationResult | None = None  # edit sets of a shift only

    @property
    def drawdown_points(self) -> float | None:
        """Drawdown-set accuracy lost, in percentage points (positive = worse)."""
        if self.after is None or self.before.drawdown is None or self.after.drawdown is None:
            return None
        return 100 * (self.before.drawdown - self.after.drawdown)


def measure(loaded: LoadedModel, test_split: ImageSplit, edit_set: EditSet,
            predicted: torch.Tensor | None = None) -> Accuracies:
    """Test, edit-set and drawdown-set accuracy of one model (see ``evaluate_model``)."""
    report = evaluate_model(loaded, test_split, edit_set, predicted=predicted, progress=True)

    def fraction(result) -> float | None:
        return result.accuracy if result is not None and result.count else None

    return Accuracies(fraction(report.test), fraction(report.edit), fraction(report.drawdown),
                      report.drawdown.count if report.drawdown is not None else 0)


def check_edit_set_fits(edit_set: EditSet, loaded: LoadedModel, test_split: ImageSplit) -> None:
    """Refuse an edit set that cannot belong to this model and data set, before any solving:
    images of another shape than the split's (the model would resize them silently) or labels
    the model has no output for."""
    where = edit_set.path or "the edit set"
    shape = tuple(edit_set.images.shape[1:])
    if shape != tuple(test_split.image_shape):
        raise UserError(f"{where}: images are {'x'.join(map(str, shape))} but "
                        f"{test_split.dataset} images are "
                        f"{'x'.join(map(str, test_split.image_shape))} (channels x height x "
                        "width); was the edit set made from another data set?")
    num_classes = loaded.metadata.num_classes
    if len(edit_set) and int(edit_set.labels.max()) >= num_classes:
        raise UserError(f"{where}: label {int(edit_set.labels.max())} but the model has "
                        f"{num_classes} classes (0..{num_classes - 1}); is the edit set for this "
                        "model?")


def run_repair_job(loaded: LoadedModel, edit_set: EditSet, config: RepairConfig, *,
                   test_split: ImageSplit, train_split: ImageSplit | None,
                   output: str | Path | None = None, report_path: str | Path | None = None,
                   force: bool = False, base_test_predictions: torch.Tensor | None = None,
                   moment_cache: dict[Any, Any] | None = None,
                   base_generalisation: Accuracy | None = None) -> JobResult:
    """Measure, repair, verify, measure again, and write the model and report (if paths given).

    Output paths are checked before any work, so a refused overwrite costs nothing. The model
    and its report are published as a pair (helpers.file_pairs): the model first, the report
    last, and a pair a killed run left half-written is replaced on the next run.
    ``moment_cache`` is passed to :func:`~edits.repair.repair` (an in-memory reference cache).
    An edit set of a shift (``editset_helpers.corrupted``) is also judged on its generalisation
    set, before (``base_generalisation`` when the caller has it) and after.
    """
    output, report_path = _check_outputs(output, report_path, force=force)
    check_edit_set_fits(edit_set, loaded, test_split)
    started = time.perf_counter()
    gset = GeneralisationSet.from_edit_set(edit_set)
    cached = _split_layer_inputs(loaded, config, test_split)
    if base_test_predictions is None and cached is not None:
        base_test_predictions = head_predictions(loaded.model, *cached)
    before = measure(loaded, test_split, edit_set, base_test_predictions)
    if gset is not None and base_generalisation is None:
        base_generalisation = generalisation_accuracy(loaded, gset, test_split)
    log.info("before: %s", _describe(before))
    result = repair(loaded.model, edit_set.images, edit_set.labels, config,
                    train_split=train_split, model_path=loaded.path,
                    moment_cache=moment_cache)
    log.info("%s", result.message)
    after = None
    if result.model is not None:
        predicted = (head_predictions(result.model, *cached)
                     if cached is not None and cached[0] == result.layer else None)
        after = measure(LoadedModel(result.model, loaded.metadata, None), test_split, edit_set,
                        predicted)
        log.info("after: %s", _describe(after))
    job = JobResult(result, before, after, {}, output, report_path)
    if gset is not None and base_generalisation is not None:
        repaired = (generalisation_accuracy(LoadedModel(result.model, loaded.metadata, None),
                                            gset, test_split)
                    if result.model is not None else None)
        job.generalisation = GeneralisationResult(gset, base_generalisation, repaired)
    job.report = build_report(job, loaded, edit_set, time.perf_counter() - started)
    if test_split.label_overrides:
        job.report["label_overrides"] = test_split.label_overrides
    save_model = None
    if output is not None and result.verified:
        metadata = repaired_metadata(loaded, job)
        job.report["repaired_model_path"] = str(output)

        def save_model(path: Path) -> None:
            save_checkpoint(result.model, path, metadata, force=True)

    if output is not None and report_path is not None:
        write_pair(output, save_model, report_path, job.report, force=True)
    elif save_model is not None:
        save_model(output)
    elif report_path is not None:
        atomic_write_json(report_path, job.report)
    return job


def _split_layer_inputs(loaded: LoadedModel, config: RepairConfig, split: ImageSplit
                        ) -> tuple[str, torch.Tensor] | None:
    """The repaired layer's name and its inputs over ``split`` (:mod:`edits.head`, cached on
    disk), so that the before and after accuracies cost only the layers from it upwards; None
    for a model whose layers above it are unknown (judged by a plain forward pass)."""
    if not supports_head(loaded.model):
        return None
    layer = choose_layer(loaded.model, config.layer)
    return layer, cached_layer_inputs(loaded.model, layer, split)


def _check_outputs(output: str | Path | None, report_path: str | Path | None, *,
                   force: bool) -> tuple[Path | None, Path | None]:
    if output and report_path:
        return check_pair(output, report_path, force=force)
    return (check_writable(output, force=force) if output else None,
            check_writable(report_path, force=force) if report_path else None)


def _describe(accuracies: Accuracies) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}%"

    return (f"test {pct(accuracies.test)}, edit set {pct(accuracies.edit)}, drawdown set "
            f"{pct(accuracies.drawdown)} ({accuracies.drawdown_images} images)")


def repaired_metadata(loaded: LoadedModel, job: JobResult) -> ModelMetadata:
    metadata = copy.deepcopy(loaded.metadata)
    metadata.test_accuracy = job.after.test if job.after else None
    metadata.created = ""
    metadata.extra = {
        "repair": {
            "base_model": str(loaded.path) if loaded.path else None,
            "edit_set": job.report.get("edit_set", {}).get("path"),
            "layer": job.repair.layer,
            "config": job.repair.config.to_dict(),
            "verification": job.repair.verification.to_dict()
            if job.repair.verification else None,
        },
        "base_training": loaded.metadata.extra.get("training", {}).get("config"),
    }
    return metadata


def build_report(job: JobResult, loaded: LoadedModel, edit_set: EditSet,
                 seconds: float) -> dict[str, Any]:
    result = job.repair
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": result.status,
        "verified": result.verified,
        "message": result.message,
        "base_model": {"path": str(loaded.path) if loaded.path else None,
                       "architecture": loaded.metadata.architecture,
                       "test_accuracy": loaded.metadata.test_accuracy},
        "edit_set": {"path": str(edit_set.path) if edit_set.path else None,
                     "name": edit_set.name, "images": len(edit_set),
                     "type": edit_set.info.get("type")},
        "accuracy_before": job.before.to_dict(),
        "accuracy_after": job.after.to_dict() if job.after else None,
        "drawdown_points": job.drawdown_points,
        "generalisation": job.generalisation.to_dict() if job.generalisation else None,
        "repair": result.to_dict(),
        "wall_seconds": seconds,
        "units": "accuracies are fractions in [0, 1]; drawdown_points is percentage points "
                 "of drawdown-set accuracy lost; generalisation.gain_points is percentage "
                 "points gained on the held-out images of the shift; times are seconds",
    }


def format_before_after(report: dict[str, Any]) -> str:
    """The before/after table a terminal user reads first, from a job's report."""
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:6.2f}%"

    before = report["accuracy_before"]
    after = report.get("accuracy_after") or {}
    repair_part = report["repair"]
    rows = [
        ("test accuracy", pct(before["test"]), pct(after.get("test"))),
        ("edit-set accuracy", pct(before["edit"]), pct(after.get("edit"))),
        (f"drawdown-set accuracy ({before['drawdown_images']} images)", pct(before["drawdown"]),
         pct(after.get("drawdown"))),
    ]
    shift = report.get("generalisation")
    if shift:
        rows.append((f"generalisation-set accuracy ({shift['images']} held-out "
                     f"{shift['corruption']}-{shift['severity']} images)",
                     pct(shift["accuracy_before"]), pct(shift.get("accuracy_after"))))
    points = report.get("drawdown_points")
    solver = repair_part.get("solver") or {}
    timings = repair_part.get("timings_seconds") or {}
    facts = [("drawdown", "-" if points is None else f"{points:+.2f} points"),
             ("repair time", f"{timings.get('total', 0):.1f} s (solver "
                             f"{solver.get('solve_seconds', 0):.1f} s in "
                             f"{solver.get('rounds', 0)} round(s), {solver.get('solver', '-')})")]
    change = repair_part.get("change") or {}
    if change:
        facts.append(("parameter change", f"max |d| {change['linf']:.4f}, mean |d| "
                      f"{change['mean_abs']:.2e} over {change['total_parameters']} parameters "
                      f"of {repair_part['layer']}"))
    facts.append(("result", report["message"]))
    return "\n".join([text_table(rows, ["", "before", "after"], colalign=("left", "right",
                                                                          "right")),
                       text_table(facts)])
