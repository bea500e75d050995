"""The two ranked edit-set kinds, "confidently wrong" and "almost right", named and made in bulk.

Selection itself lives in :mod:`editset_helpers.selectors` (registry entries ``confident_wrong``
and ``closest``) and writing in :mod:`editset_helpers.generation`; this module adds what the
command line and a sweep share on top: file names that carry the thresholds, validation before
the model is loaded, and a plan of several sets that checks every output before writing any.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from editset_helpers.generation import Balance, GenerationResult, Source, select_images
from editset_helpers.generation import generate_edit_set as _generate_edit_set
from editset_helpers.io import edit_set_paths, standard_edit_set_name
from editset_helpers.selectors import (
    check_closest_parameters,
    check_confidence_threshold,
    check_max_samples,
)
from helpers.atomic_io import check_writable
from helpers.errors import UserError

log = logging.getLogger(__name__)

SPECIALIZED_KINDS = ("confident_wrong", "closest")
DEFAULT_PARAMETERS: dict[str, dict[str, float]] = {
    "confident_wrong": {"confidence_threshold": 0.8},
    "closest": {"min_true_prob": 0.1, "max_margin": 0.3},
}


@dataclass(frozen=True)
class SpecializedRequest:
    """One set to make: its kind, its selector parameters and how many images to keep at most."""

    set_type: str
    parameters: dict[str, float] = field(default_factory=dict)
    max_samples: int | None = None  # None: every image that qualifies

    @classmethod
    def make(cls, set_type: str, *, max_samples: int | None = None, **parameters: float
             ) -> SpecializedRequest:
        """Fill in defaults and validate everything, so mistakes surface before the model loads."""
        if set_type not in SPECIALIZED_KINDS:
            raise UserError(f"unknown specialized set type {set_type!r}; use one of "
                            f"{', '.join(SPECIALIZED_KINDS)}")
        unknown = set(parameters) - set(DEFAULT_PARAMETERS[set_type])
        if unknown:
            raise UserError(f"{set_type} takes {', '.join(DEFAULT_PARAMETERS[set_type])}, not "
                            f"{', '.join(sorted(unknown))}")
        values = {**DEFAULT_PARAMETERS[set_type], **parameters}
        if set_type == "confident_wrong":
            values["confidence_threshold"] = check_confidence_threshold(
                values["confidence_threshold"])
        else:
            values["min_true_prob"], values["max_margin"] = check_closest_parameters(
                values["min_true_prob"], values["max_margin"])
        return cls(set_type, values, check_max_samples(max_samples))

    @property
    def name(self) -> str:
        """``confident_wrong_<threshold:.2f>`` or ``closest_<min_prob:.2f>_<max_margin:.2f>``."""
        return standard_edit_set_name(self.set_type, **self.parameters)

    @property
    def criterion(self) -> str:
        """The rule in words, for progress lines and reports."""
        p = self.parameters
        if self.set_type == "confident_wrong":
            return f"wrong with confidence >= {p['confidence_threshold']:g}"
        return (f"wrong with p(true) >= {p['min_true_prob']:g} and "
                f"p(predicted) - p(true) <= {p['max_margin']:g}")

    def paths(self, output_dir: str | Path) -> tuple[Path, Path]:
        return edit_set_paths(output_dir, self.name)


@dataclass
class SpecializedOutcome:
    """What one request produced: the generation result, or only counts for a dry run."""

    request: SpecializedRequest
    available: int
    kept: int
    result: GenerationResult | None = None

    @property
    def written(self) -> tuple[Path, Path] | None:
        return self.result.paths if self.result is not None else None


def check_outputs(requests: list[SpecializedRequest], output_dir: str | Path, *,
                  force: bool) -> None:
    """Refuse before any work when an output exists (no --force) or two requests share a name.

    Checking all of them first means ``both`` never leaves one set written and the other not
    because of a file that was there from the start.
    """
    names = [r.name for r in requests]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise UserError(f"two requested sets would both be written as {clashes[0]}; thresholds "
                        "are named with 2 decimals, so make them differ there")
    for request in requests:
        for path in request.paths(output_dir):
            check_writable(path, force=force)


def run_requests(source: Source, requests: list[SpecializedRequest], output_dir: str | Path, *,
                 seed: int = 0, balance: Balance | None = None, force: bool = False,
                 dry_run: bool = False) -> list[SpecializedOutcome]:
    """Make (or, with ``dry_run``, only count) each requested set from one loaded model and split.

    An empty selection writes nothing and is not an error; its outcome has ``kept == 0``.
    """
    if not dry_run:
        check_outputs(requests, output_dir, force=force)
    outcomes = []
    for request in requests:
        for key, value in request.parameters.items():
            rounded = float(f"{value:.2f}")
            if rounded != value:
                log.warning("%s=%g is named %.2f in the file name; the exact value is recorded "
                            "in the metadata JSON", key, value, rounded)
        if dry_run:
            selection, _ = select_images(source, request.set_type, request.parameters,
                                         max_samples=request.max_samples, seed=seed,
                                         balance=balance)
            outcomes.append(SpecializedOutcome(request, selection.available,
                                               len(selection.indices)))
            continue
        pt_path, _ = request.paths(output_dir)
        result = _generate_edit_set(source, request.set_type, pt_path,
                                    parameters=request.parameters,
                                    max_samples=request.max_samples, seed=seed, balance=balance,
                                    force=force)
        kept = len(result.edit_set) if result.edit_set is not None else 0
        outcomes.append(SpecializedOutcome(request, result.available, kept, result))
    return outcomes

