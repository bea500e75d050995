"""Make an edit set end to end: model + split -> predictions -> selector -> balanced -> file.

Both ``editset_generator.py`` and ``generate_specialized_repairsets.py`` and the experiment
runner call :func:`generate_edit_set`; the scripts only parse arguments and name files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from editset_helpers.io import EditSet, save_edit_set
from editset_helpers.predictions import SplitPredictions, split_predictions
from editset_helpers.selectors import Selection, check_max_samples, get_selector, random_subset
from helpers.datasets import ImageSplit, load_split
from helpers.errors import UserError
from helpers.sampling import BalancedSelection, select_balanced
from model_classes.checkpoints import LoadedModel, load_checkpoint

if TYPE_CHECKING:
    from data_quality.flagged import FlaggedImages

log = logging.getLogger(__name__)


@dataclass
class Balance:
    """Class-balanced options: ``per_class`` images of ``target_classes`` (or the first
    ``num_classes``)."""

    per_class: int
    num_classes: int | None = None
    target_classes: list[int] | None = None


@dataclass
class GenerationResult:
    edit_set: EditSet | None  # None when nothing met the criterion
    available: int
    paths: tuple[Path, Path] | None
    balance: BalancedSelection | None = None


@dataclass
class Source:
    """A loaded model and the split it is judged on, shared across many generations.

    ``excluded`` holds split indices that no edit set may take (``--exclude-flagged``: images a
    data-quality report or a reviewer flagged); ``exclusion`` describes where they came from.
    """

    loaded: LoadedModel
    split: ImageSplit
    predictions: SplitPredictions
    excluded: frozenset[int] = field(default_factory=frozenset)
    exclusion: dict[str, Any] | None = None

    @classmethod
    def load(cls, weights: str | Path, *, dataset: str = "cifar10", split: str = "test",
             data_root: str | Path = "data", device: torch.device | str | None = None,
             label_overrides: str | Path | None = None,
             exclude_flagged: str | Path | None = None) -> Source:
        """Load the model (on ``device``, the CPU by default), the split and its predictions.

        ``label_overrides`` corrects labels (see :mod:`helpers.label_overrides`);
        ``exclude_flagged`` keeps the images a report or a review flags out of every edit set
        made from this source (see :mod:`data_quality.flagged`).
        """
        from data_quality.flagged import FlaggedImages

        flagged = FlaggedImages.read(exclude_flagged) if exclude_flagged else None
        image_split = load_split(dataset, split, data_root=data_root,
                                 label_overrides=label_overrides)
        if flagged is not None:  # a file for another data set fails before the forward pass
            flagged.indices_for(image_split.dataset, image_split.split, len(image_split))
        loaded = load_checkpoint(weights, class_names=image_split.class_names, device=device)
        source = cls(loaded, image_split, split_predictions(loaded, image_split))
        return source.excluding(flagged) if flagged is not None else source

    def excluding(self, flagged: str | Path | FlaggedImages) -> Source:
        """This source with the images ``flagged`` (a file, or one read) flags excluded."""
        from data_quality.flagged import FlaggedImages

        if not isinstance(flagged, FlaggedImages):
            flagged = FlaggedImages.read(flagged)
        indices = flagged.indices_for(self.split.dataset, self.split.split, len(self.split))
        log.info("%s: %d images of %s/%s excluded from edit sets", flagged.path, len(indices),
                 self.split.dataset, self.split.split)
        return replace(self, excluded=frozenset(indices),
                       exclusion=flagged.describe(len(indices)))


def select_images(source: Source, set_type: str, parameters: dict[str, Any], *,
                  max_samples: int | None, seed: int, balance: Balance | None = None
                  ) -> tuple[Selection, BalancedSelection | None]:
    """Run the selector, then (optionally) keep a class-balanced share of what it chose."""
    selector = get_selector(set_type)
    if balance is None and not source.excluded:
        return selector(source.predictions, max_samples=max_samples, seed=seed, **parameters), None
    everything = _without(selector(source.predictions, max_samples=None, seed=seed,
                                   **parameters), source.excluded)
    if balance is None:
        return _cut(everything, max_samples, seed), None
    balanced = select_balanced(source.split.labels, balance.per_class,
                               num_available=source.split.num_classes,
                               num_classes=balance.num_classes,
                               target_classes=balance.target_classes,
                               candidates=everything.indices, seed=seed,
                               shuffle=not everything.ranked)
    limit = check_max_samples(max_samples)
    keep = set(balanced.indices[:limit])
    pairs = [(i, e) for i, e in zip(everything.indices, everything.extra, strict=True) if i in keep]
    selection = Selection([i for i, _ in pairs], [e for _, e in pairs], everything.available,
                          everything.ranked)
    return selection, balanced


def _without(selection: Selection, excluded: frozenset[int]) -> Selection:
    """The selection minus excluded images (``available`` counts what is left)."""
    if not excluded:
        return selection
    pairs = [(i, e) for i, e in zip(selection.indices, selection.extra, strict=True)
             if i not in excluded]
    return Selection([i for i, _ in pairs], [e for _, e in pairs], len(pairs), selection.ranked)


def _cut(selection: Selection, max_samples: int | None, seed: int) -> Selection:
    """``max_samples`` of a full selection, the way selectors cut: the first ones of a ranked
    list, else a seeded random subset (nested across sizes)."""
    limit = check_max_samples(max_samples)
    if selection.ranked:
        keep = set(selection.indices[:limit])
    else:
        keep = set(random_subset(torch.as_tensor(selection.indices, dtype=torch.long), limit,
                                 seed))
    pairs = [(i, e) for i, e in zip(selection.indices, selection.extra, strict=True) if i in keep]
    return Selection([i for i, _ in pairs], [e for _, e in pairs], selection.available,
                     selection.ranked)


def build_edit_set(source: Source, selection: Selection, set_type: str,
                   parameters: dict[str, Any]) -> EditSet:
    """Images, labels and per-image records (identity, prediction, scores) for a selection."""
    split, predictions = source.split, source.predictions
    index = torch.as_tensor(selection.indices, dtype=torch.long)
    predicted = predictions.predicted[index]
    confidence = predictions.confidence[index]
    true_prob = predictions.true_probability[index]
    shift = dict(split.corruption or {})  # a corrupted split: every record says how
    metadata = []
    for position, (i, extra) in enumerate(zip(selection.indices, selection.extra, strict=True)):
        guess = int(predicted[position])
        metadata.append({
            **split.record(i).as_dict(),
            "predicted_label": guess, "predicted_class": split.class_names[guess],
            "type": set_type,
            "predicted_probability": float(confidence[position]),
            "true_probability": float(true_prob[position]),
            **shift,
            **extra,
        })
    info = {
        "type": set_type,
        "dataset": split.dataset,
        "split": split.split,
        "class_names": list(split.class_names),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": dict(parameters),
        "available": selection.available,
        **({"corruption": shift} if shift else {}),
        **({"label_overrides": split.label_overrides} if split.label_overrides else {}),
        **({"excluded_flagged": source.exclusion} if source.exclusion else {}),
        "model": {
            "path": str(source.loaded.path) if source.loaded.path else None,
            "architecture": source.loaded.metadata.architecture,
            "test_accuracy": source.loaded.metadata.test_accuracy,
            "split_accuracy": source.predictions.accuracy,
        },
    }
    return EditSet(split.unit_images(index), split.labels[index].clone(), metadata, info)


def generate_edit_set(source: Source, set_type: str, output: str | Path, *,
                      parameters: dict[str, Any] | None = None, max_samples: int | None = None,
                      seed: int = 0, balance: Balance | None = None, force: bool = False,
                      write_empty: bool = False) -> GenerationResult:
    """Select, build and write one edit set; an empty selection writes nothing."""
    parameters = dict(parameters or {})
    selection, balanced = select_images(source, set_type, parameters, max_samples=max_samples,
                                        seed=seed, balance=balance)
    if not selection.indices and not write_empty:
        log.info("no image of %s/%s meets the %s criterion; nothing written",
                 source.split.dataset, source.split.split, set_type)
        return GenerationResult(None, selection.available, None, balanced)
    edit_set = build_edit_set(source, selection, set_type, parameters)
    recorded = {**parameters, "max_samples": max_samples, "seed": seed}
    if balance is not None:
        recorded["balance"] = {"per_class": balance.per_class, "num_classes": balance.num_classes,
                               "target_classes": balance.target_classes,
                               "achieved": balanced.counts if balanced else None}
    paths = save_edit_set(edit_set, output, force=force, parameters=recorded)
    return GenerationResult(edit_set, selection.available, paths, balanced)


def check_size(result: GenerationResult, requested: int | None, *, strict: bool) -> None:
    """``strict`` sizing: fewer images than requested is an error, not a smaller set."""
    got = len(result.edit_set) if result.edit_set is not None else 0
    if strict and requested is not None and got < requested:
        raise UserError(f"only {got} images meet the criterion but {requested} were requested "
                        "(strict sizing); lower the size or use flexible sizing")
