"""The generalisation experiment: corruptions x edit-set sizes x margins, repair vs fine-tuning.

For each corruption, the test split is cut into halves (:func:`editset_helpers.corrupted.
split_halves`); N misclassified corrupted images of the first half are repaired (provable
repair at each margin) and, as the baseline, the same layer is fine-tuned on them until they
are right. Every changed model is judged on

* **efficacy**: the edit images (corrupted, as repaired);
* **generalisation**: the held-out half under the same corruption, before and after;
* **drawdown**: the clean test images outside the edit set (points lost);
* the held-out half under the *other* corruptions of the study (does fixing fog break noise?).

Judging uses the last layer's cached inputs (:mod:`edits.head`); the first trial of each
corruption is also judged by a plain forward pass on the generalisation set and both numbers are
recorded. Records are plain dicts (accuracies are fractions, drawdown and gains are percentage
points, times seconds); :func:`run_study` calls ``on_record`` after each, so a script can write
them as they come and resume.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from edits.config import RepairConfig
from edits.finetune import FinetuneConfig, finetune
from edits.generalisation import GeneralisationSet, generalisation_accuracy
from edits.head import cached_layer_inputs, head_logits
from edits.layer_choice import choose_layer
from edits.repair import repair
from editset_helpers.corrupted import Shift, generate_shift_edit_set, split_halves
from editset_helpers.evaluation import drawdown_indices
from editset_helpers.generation import Source
from editset_helpers.predictions import predictions_from_logits
from helpers.corruptions import corrupted_split
from helpers.datasets import ImageSplit
from model_classes.checkpoints import LoadedModel

log = logging.getLogger(__name__)

Record = dict[str, Any]


@dataclass
class StudyPlan:
    corruptions: Sequence[str]
    sizes: Sequence[int]
    margins: Sequence[float]
    severity: int = 3
    seed: int = 0
    repair_overrides: dict[str, Any] = field(default_factory=dict)
    # Fine-tuning baselines by method name; an empty dict runs none. Adam moves every weight by
    # about its learning rate per step whatever the gradient, plain gradient descent (SGD)
    # moves the weights along the edit images' features only: both are worth a row.
    finetunes: dict[str, FinetuneConfig] = field(
        default_factory=lambda: {"finetune": FinetuneConfig()})

    def trials(self) -> list[tuple[str, int, str, float | None]]:
        """(corruption, size, method, margin) in run order, sizes outermost (a run cut short
        still covers every corruption at the small sizes); fine-tuning has no margin."""
        out: list[tuple[str, int, str, float | None]] = []
        for size in self.sizes:
            for corruption in self.corruptions:
                out += [(corruption, size, "repair", float(m)) for m in self.margins]
                out += [(corruption, size, method, None) for method in self.finetunes]
        return out


def trial_key(corruption: str, size: int, method: str, margin: float | None) -> str:
    return f"{corruption}/n{size}/{method}" + ("" if margin is None else f"/m{margin:g}")


@dataclass
class _Judge:
    """Predicted classes of a model on the clean split and on each corrupted split."""

    layer: str
    clean_inputs: torch.Tensor
    shifted_inputs: dict[str, torch.Tensor]

    def predict(self, model: torch.nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        clean = head_logits(model, self.layer, self.clean_inputs).argmax(dim=1)
        shifted = {name: head_logits(model, self.layer, inputs).argmax(dim=1)
                   for name, inputs in self.shifted_inputs.items()}
        return clean, shifted


def _accuracy(predicted: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> float:
    index = torch.as_tensor(index, dtype=torch.long)
    return float((predicted[index] == labels[index]).double().mean()) if len(index) else float(
        "nan")


def run_study(loaded: LoadedModel, clean: ImageSplit, train: ImageSplit, plan: StudyPlan, *,
              done: set[str] | None = None,
              on_record: Callable[[Record], None] | None = None) -> list[Record]:
    """Run every trial of ``plan`` not in ``done`` (keys of :func:`trial_key`)."""
    done = set(done or ())
    layer = choose_layer(loaded.model, plan.repair_overrides.get("layer", "last"))
    shifted_splits = {name: corrupted_split(clean, name, plan.severity)
                      for name in plan.corruptions}
    judge = _Judge(layer, cached_layer_inputs(loaded.model, layer, clean),
                   {name: cached_layer_inputs(loaded.model, layer, split)
                    for name, split in shifted_splits.items()})
    base_clean, base_shifted = judge.predict(loaded.model)
    source = Source(loaded, clean, predictions_from_logits(
        clean, head_logits(loaded.model, layer, judge.clean_inputs)))
    _, held_out = split_halves(len(clean), plan.seed)
    labels = clean.labels
    records: list[Record] = []
    checked: set[str] = set()
    for corruption, size, method, margin in plan.trials():
        key = trial_key(corruption, size, method, margin)
        if key in done:
            continue
        shift = Shift(corruption, plan.severity, halves_seed=plan.seed)
        shifted = Source(loaded, shifted_splits[corruption], predictions_from_logits(
            shifted_splits[corruption], head_logits(loaded.model, layer,
                                                    judge.shifted_inputs[corruption])))
        generated = generate_shift_edit_set(source, "misclassified", None, shift,
                                            max_samples=size, seed=plan.seed, shifted=shifted)
        edit_set = generated.edit_set
        if edit_set is None:
            log.warning("%s: no misclassified image in the edit half", key)
            continue
        edit_index = torch.as_tensor(edit_set.image_indices, dtype=torch.long)
        drawdown = drawdown_indices(clean, edit_set.metadata)
        started = time.perf_counter()
        record: Record = {"key": key, "corruption": corruption, "severity": plan.severity,
                          "method": method, "margin": margin, "requested_size": size,
                          "images": len(edit_set), "available": generated.available}
        if method == "repair":
            config = RepairConfig(**{**plan.repair_overrides, "margin": margin}).validate()
            result = repair(loaded.model, edit_set.images, edit_set.labels, config,
                            train_split=train, model_path=loaded.path)
            changed = result.model
            record.update(status=result.status, verified=result.verified,
                          message=result.message, layer=result.layer,
                          solver=result.solver_summary().get("solver"),
                          delta_linf=result.change_stats.get("linf"),
                          delta_l2=result.change_stats.get("l2"))
        else:
            tuned = finetune(loaded.model, edit_set.images, edit_set.labels,
                             plan.finetunes[method])
            changed = tuned.model
            record.update(status="all_right" if tuned.all_correct else "not_all_right",
                          verified=False, steps=tuned.steps, layer=tuned.layer,
                          optimizer=tuned.config.optimizer,
                          learning_rate=tuned.config.learning_rate,
                          min_margin=tuned.verification.min_margin,
                          delta_linf=tuned.change["linf"], delta_l2=tuned.change["l2"])
        record["seconds"] = time.perf_counter() - started
        before_shift = base_shifted[corruption]
        record.update(
            efficacy_before=_accuracy(before_shift, labels, edit_index),
            generalisation_before=_accuracy(before_shift, labels, held_out),
            drawdown_set_before=_accuracy(base_clean, labels, drawdown),
            test_before=_accuracy(base_clean, labels, torch.arange(len(clean))),
            generalisation_images=len(held_out), drawdown_images=len(drawdown),
            other_corruptions_before={name: _accuracy(p, labels, held_out)
                                      for name, p in base_shifted.items() if name != corruption})
        if changed is not None:
            after_clean, after_shifted = judge.predict(changed)
            after_shift = after_shifted[corruption]
            record.update(
                efficacy_after=_accuracy(after_shift, labels, edit_index),
                generalisation_after=_accuracy(after_shift, labels, held_out),
                drawdown_set_after=_accuracy(after_clean, labels, drawdown),
                test_after=_accuracy(after_clean, labels, torch.arange(len(clean))),
                other_corruptions_after={name: _accuracy(p, labels, held_out)
                                         for name, p in after_shifted.items()
                                         if name != corruption})
            record["generalisation_gain_points"] = 100 * (record["generalisation_after"]
                                                          - record["generalisation_before"])
            record["drawdown_points"] = 100 * (record["drawdown_set_before"]
                                               - record["drawdown_set_after"])
            if corruption not in checked:  # the cached-input judge against a forward pass
                checked.add(corruption)
                gset = GeneralisationSet.from_edit_set(edit_set)
                forward = generalisation_accuracy(LoadedModel(changed, loaded.metadata, None),
                                                  gset, clean).accuracy
                record["forward_check"] = {"generalisation_after_forward": forward,
                                           "generalisation_after_cached_inputs":
                                               record["generalisation_after"]}
        log.info("%s: %d images, %s, generalisation %s -> %s, drawdown %s points", key,
                 len(edit_set), record["status"], _pct(record.get("generalisation_before")),
                 _pct(record.get("generalisation_after")),
                 f"{record['drawdown_points']:.2f}" if "drawdown_points" in record else "-")
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
