"""Everything a repair can be told: each option declared once, with its flag, default and help.

:class:`RepairConfig` is the one definition. ``run_repair.py``, ``experiment_runner.py`` and
``quickstart.py`` get their repair flags from :func:`add_repair_arguments` and read them back
with :meth:`RepairConfig.from_args`; the sweep's ``TrialConfig`` extends this class, so its
defaults are these. The defaults are the ones the measurements in
``docs/repair-measurements.md`` chose: the change is measured where the data is
(``geometry="outputs"``) with the ``l2`` norm, which keeps test accuracy where the raw-parameter
norms lose much of it (numbers in that document and ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from edits.keep_rules import KEEP_RULES, keep_rule_help
from edits.presets import PRESETS, preset_help
from helpers.cli import (
    add_dataclass_arguments,
    dataclass_values,
    non_negative_int,
    non_negative_number,
    option,
    positive_int,
    positive_number,
)
from helpers.errors import UserError
from sytorch.geometry import GEOMETRIES, geometry_help
from sytorch.norms import NORMS, norm_help
from sytorch.solvers import SOLVERS, solver_help


def _neurons(values: list[str] | None) -> list[int] | str | None:
    """``--neurons 0 5 7`` -> ids; ``all`` / ``most-active:N`` stay a rule name."""
    if not values:
        return None
    if len(values) == 1 and not values[0].isdigit():
        return values[0]
    if not all(v.isascii() and v.isdigit() for v in values):
        raise UserError(f"--neurons takes ids, 'all' or 'most-active:N', got {' '.join(values)}")
    return [int(v) for v in values]


def _no_bound(value: float | None) -> float | None:
    """``--param-bound 0`` means unbounded."""
    return value or None


def _bound_value(value: float | list[float] | None) -> Any:
    if isinstance(value, list):  # a sweep axis: each value on its own
        return [_no_bound(v) for v in value]
    return _no_bound(value)


@dataclass(frozen=True, kw_only=True)
class RepairConfig:
    """One repair's settings. Frozen: a configuration is a value, copied with ``replace``."""

    preset: str | None = option(
        None, choices=lambda: list(PRESETS),
        help=lambda: "a named bundle of the options below, applied where they keep their "
                     "defaults: " + preset_help())
    layer: str = option(
        "last", help="layer to make symbolic: a name (classifier.6) or a rule: last, penultimate")
    neurons: list[int] | str | None = option(
        None, nargs="+", to_field=_neurons, metavar="N",
        help="output neurons of the layer that may change: ids, 'all' or 'most-active:N' "
             "(default: all)")
    norm: str = option("l2", choices=lambda: list(NORMS), help=norm_help)
    geometry: str = option("outputs", choices=lambda: list(GEOMETRIES), help=geometry_help)
    eps: float = option(1e-4, type=positive_number,
                        help="ridge of the outputs geometry, relative to its mean eigenvalue")
    margin: float = option(2.0, type=non_negative_number,
                           help="label logit must beat every other logit by this much")
    param_bound: float | None = option(
        5.0, type=non_negative_number, to_field=_bound_value, metavar="B",
        help="largest allowed |change| of any parameter; 0 for none")
    keep_set: int = option(
        0, type=non_negative_int,
        help="correctly classified training images whose labels must stay right")
    keep_margin: float = option(
        0.1, type=non_negative_number,
        help="keep-set images keep a gap of min(this, their current gap)")
    keep_rule: str = option(
        "random", choices=lambda: list(KEEP_RULES),
        help=lambda: "which training images form the keep set: " + keep_rule_help())
    reference_size: int = option(5000, type=positive_int,
                                 help="training images that define the outputs geometry")
    reference_augment: int = option(
        0, type=non_negative_int,
        help="augmented copies (random shift + flip) of each reference image added to it")
    reference_neighbours: int = option(
        0, type=non_negative_int,
        help="nearest training images of each edit image (layer input space) added to the "
             "reference sample")
    solver: str = option("auto", choices=lambda: list(SOLVERS), help=solver_help)
    time_limit: float | None = option(None, type=positive_number,
                                      help="seconds for all solver rounds together (default: "
                                           "none)")
    seed: int = option(0, type=non_negative_int,
                       help="seed of edit-set subsets and of the reference sample")
    margin_slack: float = option(
        1e-3, type=non_negative_number,
        help="solved with margin + slack, so float32 rounding keeps the margin")
    max_rounds: int = option(30, type=positive_int,
                             help="rounds of the lazy row loop before it gives up")
    max_qp_rows: int = option(
        15_000, type=non_negative_int,
        help="stop with a diagnosis when a round would solve more active label and bound rows "
             "than this (a dense dual QP of 15,000 rows needs about 5 GB; a hidden layer's "
             "pattern rows are not counted); 0 for no limit")

    def validate(self) -> RepairConfig:
        """Check values that did not come through the parser (a notebook, a sweep's CSV)."""
        if self.norm not in NORMS:
            raise UserError(f"unknown norm {self.norm!r}; use one of {', '.join(NORMS)}")
        if self.geometry not in GEOMETRIES:
            raise UserError(f"unknown geometry {self.geometry!r}; use one of "
                            f"{', '.join(GEOMETRIES)}")
        if self.keep_rule not in KEEP_RULES:
            raise UserError(f"unknown keep rule {self.keep_rule!r}; use one of "
                            f"{', '.join(KEEP_RULES)}")
        if self.solver not in SOLVERS:
            raise UserError(f"unknown solver {self.solver!r}; use one of {', '.join(SOLVERS)}")
        numbers = {"margin": self.margin, "eps": self.eps, "param_bound": self.param_bound,
                   "keep_margin": self.keep_margin, "margin_slack": self.margin_slack}
        for name, value in numbers.items():
            if value is not None and not (isinstance(value, int | float)
                                          and math.isfinite(value)):
                raise UserError(f"--{name.replace('_', '-')} must be a finite number, got "
                                f"{value!r}")
        if not self.margin >= 0:
            raise UserError(f"--margin must be >= 0, got {self.margin}")
        if self.param_bound is not None and not self.param_bound > 0:
            raise UserError(f"--param-bound must be positive, got {self.param_bound}")
        if not self.eps > 0:
            raise UserError(f"--eps must be positive, got {self.eps}")
        if self.keep_set < 0 or self.reference_size < 1:
            raise UserError("--keep-set must be >= 0 and --reference-size >= 1")
        if self.reference_augment < 0 or self.reference_neighbours < 0:
            raise UserError("--reference-augment and --reference-neighbours must be >= 0")
        if self.time_limit is not None and not self.time_limit > 0:
            raise UserError(f"--time-limit must be positive, got {self.time_limit}")
        if self.max_rounds < 1:
            raise UserError(f"--max-rounds must be at least 1, got {self.max_rounds}")
        return self

    def resolved(self) -> RepairConfig:
        """This configuration with its preset's options put in where defaults stand."""
        if self.preset is None:
            return self
        if self.preset not in PRESETS:
            raise UserError(f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)}")
        defaults = RepairConfig()
        changes = {name: value for name, value in PRESETS[self.preset].overrides.items()
                   if getattr(self, name) == getattr(defaults, name)}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def values_from_args(cls, args: argparse.Namespace, *, exclude: tuple[str, ...] = ()
                         ) -> dict[str, Any]:
        """The repair fields of parsed ``args``, converted (``--param-bound 0`` -> ``None``)."""
        return dataclass_values(RepairConfig, args, exclude=exclude)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RepairConfig:
        """The configuration parsed by :func:`add_repair_arguments`, validated."""
        return cls(**cls.values_from_args(args)).resolved().validate()


def add_repair_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *,
                         axes: tuple[str, ...] = ()) -> None:
    """One flag per :class:`RepairConfig` field; ``axes`` take several values (a sweep)."""
    add_dataclass_arguments(parser, RepairConfig, axes=axes)
