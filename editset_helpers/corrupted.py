"""Edit sets of a distribution shift, with a held-out generalisation set.

Does fixing some corrupted images fix unseen images of the same corruption? To ask that
fairly (as PRDNN and APRNN do with MNIST-C and natural adversarial examples), the test split is
cut into two disjoint halves by a seeded draw: the edit images come only from the corrupted
images of the first half, and the whole second half, corrupted the same way, is recorded in the
edit set's metadata as its **generalisation set** (by source index and corruption). The repair
never sees an image of the second half, so accuracy there before and after a repair is its
generalisation.

Any selector works on a shift (``misclassified`` is the usual one): it runs on the model's
predictions for the corrupted split and keeps what falls in the first half. Records carry the
corruption (``corruption``, ``severity``, ``corruption_seed``) beside the usual identity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from editset_helpers.generation import GenerationResult, Source, build_edit_set
from editset_helpers.io import save_edit_set
from editset_helpers.predictions import split_predictions
from editset_helpers.selectors import Selection, check_max_samples, get_selector, random_subset
from helpers.corruptions import check_corruption, check_severity, corrupted_split
from helpers.errors import UserError

log = logging.getLogger(__name__)

GENERALISATION_KEY = "generalisation_set"  # the edit set's info entry (JSON sidecar)


def split_halves(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint sorted index sets covering ``0..size-1``: ``(edit half, held-out half)``.

    The edit half has ``size // 2`` images, the held-out half the rest. A local generator, so
    the draw depends only on ``seed`` and ``size``.
    """
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    half = size // 2
    return order[:half].sort().values, order[half:].sort().values


@dataclass(frozen=True)
class Shift:
    """A corruption at a severity, the seed of its noise and the seed of the halves."""

    corruption: str
    severity: int
    halves_seed: int = 0
    corruption_seed: int = 0

    def __post_init__(self) -> None:
        check_corruption(self.corruption)
        check_severity(self.severity)

    @property
    def label(self) -> str:
        """``fog3``: the short name used in file names."""
        return f"{self.corruption}{self.severity}"


def shifted_source(source: Source, shift: Shift) -> Source:
    """The same model judged on the corrupted split (images and predictions cached)."""
    split = corrupted_split(source.split, shift.corruption, shift.severity,
                            seed=shift.corruption_seed)
    return Source(source.loaded, split, split_predictions(source.loaded, split),
                  source.excluded, source.exclusion)


def select_in_half(shifted: Source, set_type: str, parameters: dict[str, Any],
                   allowed: torch.Tensor, *, max_samples: int | None, seed: int) -> Selection:
    """Run the selector on the whole shifted split and keep what lies in ``allowed``.

    Ranked selectors keep their order (the most extreme of the half first); the others take a
    seeded random subset of the half, nested across sizes like every unranked selection.
    """
    selector = get_selector(set_type)
    everything = selector(shifted.predictions, max_samples=None, seed=seed, **parameters)
    keep = set(allowed.tolist()) - shifted.excluded  # --exclude-flagged
    pairs = [(i, e) for i, e in zip(everything.indices, everything.extra, strict=True)
             if i in keep]
    limit = check_max_samples(max_samples)
    if everything.ranked:
        pairs = pairs[:limit]
    else:
        chosen = set(random_subset(torch.as_tensor([i for i, _ in pairs], dtype=torch.long),
                                   limit, seed))
        pairs = [(i, e) for i, e in pairs if i in chosen]
    return Selection([i for i, _ in pairs], [e for _, e in pairs], len(keep & set(
        everything.indices)), everything.ranked)


def generalisation_record(shifted: Source, shift: Shift, held_out: torch.Tensor,
                          edit_half: int) -> dict[str, Any]:
    """What the edit set's metadata says about its generalisation set."""
    split = shifted.split
    return {
        "dataset": split.dataset, "split": split.split,
        "corruption": shift.corruption, "severity": shift.severity,
        "corruption_seed": shift.corruption_seed, "halves_seed": shift.halves_seed,
        "edit_half_images": edit_half, "images": len(held_out),
        "image_idx": [int(i) for i in held_out],
        "description": "images of the held-out half of the split, corrupted the same way; "
                       "no edit image comes from them",
    }


def generate_shift_edit_set(source: Source, set_type: str, output: str | Path | None,
                            shift: Shift, *, parameters: dict[str, Any] | None = None,
                            max_samples: int | None = None, seed: int = 0, force: bool = False,
                            shifted: Source | None = None) -> GenerationResult:
    """Select from the first half of the corrupted split, record the second, write the set.

    ``source`` is the model on the clean split (the corrupted one is derived from it and
    cached; pass ``shifted`` when the caller already has it). ``output=None`` builds the edit
    set without writing it. An empty selection writes nothing (``edit_set`` is ``None``).
    """
    parameters = dict(parameters or {})
    if shifted is None:
        shifted = shifted_source(source, shift)
    edit_half, held_out = split_halves(len(shifted.split), shift.halves_seed)
    selection = select_in_half(shifted, set_type, parameters, edit_half,
                               max_samples=max_samples, seed=seed)
    log.info("%s under %s: %d of the %d edit-half images qualify, %d taken", set_type,
             shift.label, selection.available, len(edit_half), len(selection.indices))
    if not selection.indices:
        return GenerationResult(None, selection.available, None)
    edit_set = build_edit_set(shifted, selection, set_type, parameters)
    edit_set.info[GENERALISATION_KEY] = generalisation_record(shifted, shift, held_out,
                                                              len(edit_half))
    if output is None:
        return GenerationResult(edit_set, selection.available, None)
    recorded = {**parameters, "max_samples": max_samples, "seed": seed,
                "corruption": shift.corruption, "severity": shift.severity}
    paths = save_edit_set(edit_set, output, force=force, parameters=recorded)
    return GenerationResult(edit_set, selection.available, paths)


def check_disjoint(edit_records: list[dict[str, Any]], generalisation: dict[str, Any]) -> None:
    """Refuse an edit set whose images overlap its own generalisation set (a damaged file)."""
    held = set(int(i) for i in generalisation.get("image_idx", []))
    overlap = sorted(held & {int(r["image_idx"]) for r in edit_records
                             if r.get("image_idx") is not None})
    if overlap:
        raise UserError(f"{len(overlap)} edit images (first: index {overlap[0]}) are also in the "
                        "generalisation set; the edit set is damaged, make it again")
