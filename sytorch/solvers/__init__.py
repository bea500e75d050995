"""Solver back ends by name: ``highs`` (default), ``gurobi``, ``piqp`` and ``auto``.

``piqp`` solves QPs (the ``l2`` objective's dual) with PIQP's interior point and LPs with HiGHS.
``auto`` takes Gurobi when its licence can hold the problem, and otherwise PIQP for QPs and
HiGHS for LPs, so the same command runs on a laptop with the size-limited PyPI licence and on a
cluster with a full one.
"""

from __future__ import annotations

import logging

from helpers.errors import UserError
from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.solvers.base import SolverBackend, SolveResult, SolveStatus
from sytorch.solvers.gurobi_backend import GurobiBackend, SolverLicenceError
from sytorch.solvers.highs_backend import HighsBackend
from sytorch.solvers.piqp_backend import PiqpBackend

log = logging.getLogger(__name__)

SOLVER_NAMES = ("highs", "gurobi", "piqp", "auto")
SOLVER_HELP = ("highs: HiGHS for every LP and QP; piqp: PIQP's interior point for the l2 "
               "objective's QP (much faster from about 500 images and on hidden layers), HiGHS "
               "for LPs; gurobi: Gurobi (licence permitting); auto: Gurobi when its licence fits "
               "the problem, else as piqp")


def make_backend(name: str) -> SolverBackend:
    if name == "highs":
        return HighsBackend()
    if name == "gurobi":
        return GurobiBackend()
    if name == "piqp":
        return PiqpBackend()
    if name == "auto":
        return AutoBackend()
    raise UserError(f"unknown solver {name!r}; use one of {', '.join(SOLVER_NAMES)}")


class AutoBackend(SolverBackend):
    """Gurobi when it is installed and licensed for the problem's size, else PIQP for QPs
    (interior point: measured 2.5-15x faster than HiGHS's active set on dual QPs of thousands
    of rows, docs/repair-measurements.md) and HiGHS
    for LPs."""

    name = "auto"

    def __init__(self) -> None:
        self.fallback = PiqpBackend()  # QPs by PIQP, LPs handed on to HiGHS
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
                log.info("Gurobi's licence is too small for this problem; using PIQP/HiGHS")
        return self.fallback.solve(problem, time_limit=time_limit, threads=threads)


__all__ = ["SOLVER_HELP", "SOLVER_NAMES", "GurobiBackend", "HighsBackend", "PiqpBackend",
           "SolveResult", "SolveStatus", "SolverBackend", "SolverLicenceError", "make_backend"]
