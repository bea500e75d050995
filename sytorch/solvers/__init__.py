"""Solver back ends by name: ``highs`` (default), ``gurobi``, ``piqp`` and ``auto``.

``piqp`` solves QPs (the ``l2`` objective's dual) with PIQP's interior point and LPs with HiGHS.
``auto`` takes Gurobi when its licence can hold the problem, and otherwise PIQP for QPs and
HiGHS for LPs, so the same command runs on a laptop with the size-limited PyPI licence and on a
cluster with a full one.
"""

from __future__ import annotations

import logging

from sytorch.errors import SytorchError
from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.solvers.base import (
    SOLVERS,
    SolverBackend,
    SolveResult,
    SolveStatus,
    register_solver,
)
from sytorch.solvers.gurobi_backend import GurobiBackend, SolverLicenceError
from sytorch.solvers.highs_backend import HighsBackend
from sytorch.solvers.piqp_backend import PiqpBackend

log = logging.getLogger(__name__)


def make_backend(name: str) -> SolverBackend:
    """A new back end registered as ``name``."""
    if name not in SOLVERS:
        raise SytorchError(f"unknown solver {name!r}; use one of {', '.join(SOLVERS)}")
    return SOLVERS[name]()


def solver_help() -> str:
    """``--solver``'s help, one clause per registered back end."""
    return "; ".join(f"{name}: {cls.summary}" for name, cls in SOLVERS.items())


@register_solver("auto", "Gurobi when its licence fits the problem, else as piqp")
class AutoBackend(SolverBackend):
    """Gurobi when it is installed and licensed for the problem's size, else PIQP for QPs
    (interior point: faster than HiGHS's active set on dual QPs of thousands of rows; the
    measurements are in docs/repair-measurements.md) and HiGHS for LPs."""

    def __init__(self) -> None:
        self.fallback = PiqpBackend()  # QPs by PIQP, LPs handed on to HiGHS
        try:
            self.gurobi: GurobiBackend | None = GurobiBackend()
        except SytorchError:
            self.gurobi = None

    def solve(self, problem: LinearProgram | QuadraticProgram, *,
              time_limit: float | None = None, threads: int | None = None) -> SolveResult:
        if self.gurobi is not None and self.gurobi.fits(problem):
            try:
                return self.gurobi.solve(problem, time_limit=time_limit, threads=threads)
            except SolverLicenceError:
                log.info("Gurobi's licence is too small for this problem; using PIQP/HiGHS")
        return self.fallback.solve(problem, time_limit=time_limit, threads=threads)


__all__ = ["SOLVERS", "GurobiBackend", "HighsBackend", "PiqpBackend", "SolveResult",
           "SolveStatus", "SolverBackend", "SolverLicenceError", "make_backend",
           "register_solver", "solver_help"]
