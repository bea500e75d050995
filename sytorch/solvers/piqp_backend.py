"""PIQP, an interior-point QP solver, for the ``l2`` objective's dual QP; LPs go to HiGHS.

Why a second open-source solver: the ``l2`` repair is solved as its dual, a QP with one
non-negative variable per active row and a Hessian that is mostly dense (rows of one output
neuron all share the feature Gram matrix). HiGHS solves QPs only with its active-set method,
whose work grows with the number of rows that end up active, and on a hidden layer it can stop
with "Solve error". An interior-point method takes a few tens of iterations whatever the active
set, each one dense Cholesky factorisation, and reaches the same answers (the iteration counts,
times and objectives are in docs/repair-measurements.md and benchmarks/results/size_*.json).

The dual is a QP over ``l >= 0`` alone, so it is solved on a working set of its variables
(:mod:`sytorch.solvers.working_set`): most multipliers end at zero, and the factorisation's cost
grows with the cube of the variables carried. The back end remembers the support of its last
answer: the lazy-row loop's next round appends rows to the same QP, so the old support plus the
new rows is where the next optimum usually lies (any start gives the exact optimum; a good one
only saves passes).

PIQP cannot be interrupted inside a solve: ``time_limit`` is checked before a solve starts, and
a solve that ends after the limit is reported as ``time_limit`` (its answer discarded), so an
overrun is at most one solve.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from sytorch.errors import SytorchError
from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.solvers.base import SolverBackend, SolveResult, SolveStatus, register_solver
from sytorch.solvers.highs_backend import HighsBackend
from sytorch.solvers.working_set import is_nonnegative_qp, solve_on_working_set, support

DENSE_MIN_DENSITY = 0.05  # a Hessian at least this full is factorised dense (BLAS-speed)
DENSE_MAX_COLUMNS = 20_000  # beyond this, dense matrices (m^2 doubles, twice) need > 6 GB

try:
    import piqp

    _STATUS = {
        piqp.PIQP_SOLVED: SolveStatus.OPTIMAL,
        piqp.PIQP_PRIMAL_INFEASIBLE: SolveStatus.INFEASIBLE,
        piqp.PIQP_DUAL_INFEASIBLE: SolveStatus.UNBOUNDED,
        piqp.PIQP_MAX_ITER_REACHED: SolveStatus.ITERATION_LIMIT,
    }
except ImportError:  # pragma: no cover - a dependency of the project
    piqp = None
    _STATUS = {}


@register_solver("piqp", "PIQP's interior point for the l2 objective's QP (faster on large "
                         "edit sets and hidden layers), HiGHS for LPs")
class PiqpBackend(SolverBackend):

    def __init__(self, *, verbose: bool = False, tolerance: float = 1e-9):
        if piqp is None:  # pragma: no cover
            raise SytorchError("piqp is not installed; run `uv sync` or use --solver highs")
        self.verbose = verbose
        self.tolerance = tolerance
        self.highs = HighsBackend(verbose=verbose)
        self._last_support: tuple[int, np.ndarray] | None = None

    def solve(self, problem: LinearProgram | QuadraticProgram, *,
              time_limit: float | None = None, threads: int | None = None) -> SolveResult:
        if not (isinstance(problem, QuadraticProgram) and problem.Q is not None):
            return self.highs.solve(problem, time_limit=time_limit, threads=threads)
        if not is_nonnegative_qp(problem):
            return self._solve_qp(problem, time_limit)
        n = problem.num_cols
        dense = n <= DENSE_MAX_COLUMNS and problem.Q.nnz >= DENSE_MIN_DENSITY * n * n
        result = solve_on_working_set(problem, self._solve_qp, solver=self.name,
                                      start=self._start(problem), time_limit=time_limit,
                                      newton=dense)
        if result.ok:
            self._last_support = (problem.num_cols, support(result.x))
        return result

    def _start(self, problem: QuadraticProgram) -> np.ndarray | None:
        """The last answer's support plus every variable added since (see the module doc)."""
        last = self._last_support
        if last is None or last[0] > problem.num_cols:
            return None
        size, support = last
        return np.concatenate([support, np.arange(size, problem.num_cols)])

    def _solve_qp(self, problem: QuadraticProgram, time_limit: float | None) -> SolveResult:
        """One PIQP solve of the whole ``problem``."""
        sizes = {"num_cols": problem.num_cols, "num_rows": problem.num_rows,
                 "num_nonzeros": problem.num_nonzeros}
        if time_limit is not None and time_limit <= 0:
            return SolveResult(self.name, SolveStatus.TIME_LIMIT,
                               message="no time left for the QP", **sizes)
        started = time.perf_counter()
        solver, dense = self._setup(problem)
        build = time.perf_counter() - started
        started = time.perf_counter()
        status = solver.solve()
        seconds = time.perf_counter() - started
        info = solver.result.info
        result = SolveResult(
            self.name, _STATUS.get(status, SolveStatus.ERROR), build_seconds=build,
            solve_seconds=seconds, iterations={"ipm": int(info.iter)},
            message=f"PIQP ({'dense' if dense else 'sparse'}): {status.name}", **sizes)
        if time_limit is not None and build + seconds > time_limit:
            result.status = SolveStatus.TIME_LIMIT
            result.message += f"; finished after the {time_limit:g} s limit"
        if result.status == SolveStatus.OPTIMAL:
            result.x = np.array(solver.result.x, dtype=np.float64)
            result.objective = float(info.primal_obj)
        return result

    def _setup(self, problem: QuadraticProgram):
        n = problem.num_cols
        Q = sp.csc_matrix(problem.Q, dtype=np.float64)
        equal = problem.row_lower == problem.row_upper
        A = sp.csr_matrix(problem.A, dtype=np.float64)
        dense = n <= DENSE_MAX_COLUMNS and Q.nnz >= DENSE_MIN_DENSITY * n * n
        solver = piqp.DenseSolver() if dense else piqp.SparseSolver()
        matrix = _dense if dense else sp.csc_matrix
        solver.settings.verbose = self.verbose
        solver.settings.eps_abs = self.tolerance
        solver.settings.eps_rel = self.tolerance * 0.1
        rows = {}
        if equal.any():
            rows.update(A=matrix(A[equal]), b=np.asarray(problem.row_lower[equal], dtype=float))
        if (~equal).any():
            rows.update(G=matrix(A[~equal]),
                        h_l=np.asarray(problem.row_lower[~equal], dtype=float),
                        h_u=np.asarray(problem.row_upper[~equal], dtype=float))
        solver.setup(matrix(Q), np.asarray(problem.cost, dtype=float), **rows,
                     x_l=np.asarray(problem.col_lower, dtype=float),
                     x_u=np.asarray(problem.col_upper, dtype=float))
        return solver, dense


def _dense(matrix: sp.spmatrix) -> np.ndarray:
    """PIQP's dense solver takes column-major arrays."""
    return np.asfortranarray(matrix.toarray())
