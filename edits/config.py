"""Everything a repair can be told, with the defaults our measurements chose.

Defaults (see ``docs/repair-measurements.md`` for the numbers behind them): the change is
measured where the data is (``geometry="outputs"``: mean squared change of the layer's outputs
over a reference sample of training images) with the ``l2`` norm, which kept test accuracy where
the raw-parameter norms took it from 68% to 16% in the notes and in our own runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from helpers.errors import UserError
from sytorch.geometry import GEOMETRIES
from sytorch.norms import NORMS
from sytorch.solvers import SOLVER_NAMES


@dataclass
class RepairConfig:
    layer: str = "last"  # a layer name, or a rule from edits.layer_choice.LAYER_RULES
    neurons: list[int] | str | None = None  # None: all; ids; or a rule like "most-active:256"
    norm: str = "l2"
    geometry: str = "outputs"
    eps: float = 1e-4  # ridge of the output geometry, relative to G's mean eigenvalue
    margin: float = 2.0  # label logit must beat every other logit by this much
    param_bound: float | None = 5.0  # |change| of every parameter; None = unbounded
    keep_set: int = 0  # correctly classified training images whose labels must stay right
    keep_margin: float = 0.1  # they keep a gap of min(keep_margin, their current gap)
    reference_size: int = 5000  # training images that define the output geometry
    solver: str = "highs"
    time_limit: float | None = None  # seconds for all solver rounds together
    seed: int = 0
    margin_slack: float = 1e-3  # solved with margin + slack, so float32 rounding keeps the margin
    max_rounds: int = 30
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> RepairConfig:
        if self.norm not in NORMS:
            raise UserError(f"unknown norm {self.norm!r}; use one of {', '.join(NORMS)}")
        if self.geometry not in GEOMETRIES:
            raise UserError(f"unknown geometry {self.geometry!r}; use one of "
                            f"{', '.join(GEOMETRIES)}")
        if self.solver not in SOLVER_NAMES:
            raise UserError(f"unknown solver {self.solver!r}; use one of {', '.join(SOLVER_NAMES)}")
        if self.margin < 0:
            raise UserError(f"--margin must be >= 0, got {self.margin}")
        if self.param_bound is not None and self.param_bound <= 0:
            raise UserError(f"--param-bound must be positive, got {self.param_bound}")
        if self.eps <= 0:
            raise UserError(f"--eps must be positive, got {self.eps}")
        if self.keep_set < 0 or self.reference_size < 1:
            raise UserError("--keep-set must be >= 0 and --reference-size >= 1")
        if self.time_limit is not None and self.time_limit <= 0:
            raise UserError(f"--time-limit must be positive, got {self.time_limit}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
