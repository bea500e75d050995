"""The interface every solver back end implements, and what a solve reports.

A back end turns a :class:`~sytorch.program.LinearProgram` or
:class:`~sytorch.program.QuadraticProgram` into its own model, solves it within a time limit and
returns a :class:`SolveResult`: status, solution, objective, build and solve seconds and
iteration counts, so reports and CSV rows read the same whichever solver ran.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import numpy as np

from sytorch.program import LinearProgram, QuadraticProgram


class SolveStatus(StrEnum):
    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    ERROR = "error"


@dataclass
class SolveResult:
    solver: str
    status: SolveStatus
    x: np.ndarray | None = None
    objective: float | None = None
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    iterations: dict[str, int] = field(default_factory=dict)  # simplex, ipm/barrier, qp, ...
    message: str = ""
    num_cols: int = 0
    num_rows: int = 0
    num_nonzeros: int = 0

    @property
    def ok(self) -> bool:
        return self.status == SolveStatus.OPTIMAL and self.x is not None

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("x")
        data["status"] = str(self.status)
        return data


class SolverBackend(abc.ABC):
    """One LP/QP solver. Subclasses are registered by name in :mod:`sytorch.solvers`."""

    name: str = "abstract"
    summary: str = ""  # one line for --help, set by register_solver

    @abc.abstractmethod
    def solve(self, problem: LinearProgram | QuadraticProgram, *,
              time_limit: float | None = None, threads: int | None = None) -> SolveResult:
        """Solve ``problem``; never raise for infeasible or timed-out problems (report them)."""

    def fits(self, problem: LinearProgram) -> bool:
        """Whether this back end can take a problem of this size (licence limits)."""
        return True


SOLVERS: dict[str, type[SolverBackend]] = {}


def register_solver(name: str, summary: str
                    ) -> Callable[[type[SolverBackend]], type[SolverBackend]]:
    """Class decorator: the back end answers to ``--solver name``; ``summary`` is its help."""
    def decorate(cls: type[SolverBackend]) -> type[SolverBackend]:
        cls.name, cls.summary = name, summary
        SOLVERS[name] = cls
        return cls
    return decorate
