"""Solver back ends by name: ``auto`` (the default), ``highs``, ``piqp`` and ``gurobi``.

``auto`` takes PIQP's interior point for the ``l2`` objective's dual QP and HiGHS for LPs (the
``linf``/``l1`` norms, the feasibility checks); it takes Gurobi instead only when Gurobi is
installed with a licence that is not size-limited, so the same command gives the same answer on
a laptop with the PyPI wheel's licence (2,000 variables, 200 once quadratic) at every size.
``piqp`` is the same without the Gurobi check; ``highs`` runs HiGHS for everything (its QP
method is an active set, several times slower on large dual QPs: docs/repair-measurements.md);
``gurobi`` runs Gurobi whatever its licence.
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
from sytorch.solvers.gurobi_backend import (
    GurobiBackend,
    SolverLicenceError,
    licence_is_size_limited,
)
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


@register_solver("auto", "PIQP for the l2 objective's QP, HiGHS for LPs; Gurobi instead when "
                         "its licence is not size-limited")
class AutoBackend(SolverBackend):
    """PIQP for QPs and HiGHS for LPs, or Gurobi for both when its licence has no size limit.

    Why PIQP for the dual QP: HiGHS solves QPs only by an active set whose work grows with the
    rows that end up active; PIQP's interior point takes a few tens of factorisations whatever
    the active set (the times are in docs/repair-measurements.md). Why not Gurobi under the
    size-limited licence: it would take the small problems and hand the large ones on, so one
    sweep's rows would come from two solvers.
    """

    def __init__(self) -> None:
        self.fallback = PiqpBackend()  # QPs by PIQP, LPs handed on to HiGHS
        self.gurobi: GurobiBackend | None = None
        if gurobi_unrestricted():
            self.gurobi = GurobiBackend()

    def choose(self, problem: LinearProgram | QuadraticProgram) -> SolverBackend:
        """The back end this problem goes to (the README's rule)."""
        return self.gurobi if self.gurobi is not None else self.fallback

    def solve(self, problem: LinearProgram | QuadraticProgram, *,
              time_limit: float | None = None, threads: int | None = None) -> SolveResult:
        backend = self.choose(problem)
        log.debug("auto: %s solves %s", backend.name, problem.name)
        return backend.solve(problem, time_limit=time_limit, threads=threads)


def gurobi_unrestricted() -> bool:
    """Whether gurobipy is installed with a licence that takes problems of any size."""
    try:
        import gurobipy  # noqa: F401
    except ImportError:
        return False
    try:
        return not licence_is_size_limited()
    except Exception as error:  # no licence at all, a licence server down: not usable
        log.debug("Gurobi is not usable here (%s)", error)
        return False


__all__ = ["SOLVERS", "GurobiBackend", "HighsBackend", "PiqpBackend", "SolveResult",
           "SolveStatus", "SolverBackend", "SolverLicenceError", "gurobi_unrestricted",
           "make_backend", "register_solver", "solver_help"]
