"""Solver back ends by name: ``highs`` (default), ``gurobi``, and ``auto``.

``auto`` takes Gurobi when its licence can hold the problem and HiGHS otherwise, so the same
command runs on a laptop with the size-limited PyPI licence and on a cluster with a full one.
"""

from __future__ import annotations

import logging

from helpers.errors import UserError
from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.solvers.base import SolverBackend, SolveResult, SolveStatus
from sytorch.solvers.gurobi_backend import GurobiBackend, SolverLicenceError
from sytorch.solvers.highs_backend import HighsBackend

log = logging.getLogger(__name__)

SOLVER_NAMES = ("highs", "gurobi", "auto")


def make_backend(name: str) -> SolverBackend:
    if name == "highs":
        return HighsBackend()
    if name == "gurobi":
        return GurobiBackend()
    if name == "auto":
        return AutoBackend()
    raise UserError(f"unknown solver {name!r}; use one of {', '.join(SOLVER_NAMES)}")


class AutoBackend(SolverBackend):
    """Gurobi when it is installed and licensed for the problem's size, else HiGHS."""

    name = "auto"

    def __init__(self) -> None:
        self.highs = HighsBackend()
        try:
            self.gurobi: GurobiBackend | None = GurobiBackend()
        except UserError:
            self.gurobi = None

    def solve(self, problem: LinearProgram | QuadraticProgram, *,
              time_limit: float | None = None, threads: int | None = None) -> SolveResult:
        if self.gurobi is not None and self.gurobi.fits(problem):
            try:
                return self.gurobi.solve(problem, time_limit=time_limit, threads=threads)
            except SolverLicenceError:
                log.info("Gurobi's licence is too small for this problem; using HiGHS")
        return self.highs.solve(problem, time_limit=time_limit, threads=threads)


__all__ = ["SOLVER_NAMES", "GurobiBackend", "HighsBackend", "SolveResult", "SolveStatus",
           "SolverBackend", "SolverLicenceError", "make_backend"]
