"""Solve a non-negative QP on a shrinking and growing subset of its variables.

The ``l2`` objective's dual is ``min 1/2 l^T Q l + c^T l, l >= 0`` with one variable per row of
the repair. At the optimum most multipliers are zero (rows the change meets without pushing),
and an interior point's work grows with the cube of the variables it carries. So the QP is
solved on a working set ``S`` (the others held at zero) and the answer is checked on *all*
variables: the gradient ``g = Q l + c`` of a variable outside ``S`` is the slack of its row,
and ``g_i >= 0`` for every ``i`` not in ``S`` is exactly the optimality condition of the full
problem (KKT: ``l >= 0``, ``g >= 0``, ``l_i g_i = 0``). Variables that break it join ``S``;
variables whose multiplier came out zero leave it. The answer is the full problem's optimum,
not an approximation; the lazy-row loop and the forward-pass verification check it again.

Termination: with exact solves, dropping zero variables leaves the restricted optimum where it
is and adding a variable with a negative gradient strictly lowers it, so no working set comes
back. With a solver's tolerance a variable could bounce, so one that leaves and comes back is
never dropped again, and after :data:`MAX_PASSES` passes the full problem is solved instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from sytorch.program import QuadraticProgram
from sytorch.solvers.base import SolveResult, SolveStatus

log = logging.getLogger(__name__)

MAX_PASSES = 12
SUPPORT_RELATIVE = 1e-7  # a multiplier below this times the largest one counts as zero
GRADIENT_TOLERANCE = 1e-9  # slack below -this (relative to max(1, |c|)) breaks a row
FIRST_MINIMUM = 1000  # below this many rows one dense solve is cheap: take them all
FIRST_SHARE = 0.5  # else start with this share of the rows broken at zero
NEWTON_ATTEMPTS = 4  # Cholesky solves per pass before the interior point takes the subset

SubSolve = Callable[[QuadraticProgram, float | None], SolveResult]


def is_nonnegative_qp(problem: QuadraticProgram) -> bool:
    """Whether the problem is ``min 1/2 x^T Q x + c^T x, x >= 0`` (rows implied by ``x >= 0``
    allowed: non-negative coefficients, lower side <= 0, no upper side), so that a subset of
    variables can be solved alone."""
    if problem.Q is None or problem.num_cols == 0:
        return False
    if not (np.all(problem.col_lower == 0) and np.all(np.isposinf(problem.col_upper))):
        return False
    if problem.num_rows == 0:
        return True
    A = sp.csr_matrix(problem.A)
    return bool(np.all(A.data >= 0) and np.all(problem.row_lower <= 0)
                and np.all(np.isposinf(problem.row_upper)))


def first_working_set(c: np.ndarray, at_zero: np.ndarray) -> np.ndarray:
    """Without a hint: the rows broken at zero, or when there are many, the
    :data:`FIRST_SHARE` of them broken the most (``c`` is minus the row's right-hand side over
    its length: the most negative are the furthest from holding, the likeliest to be active);
    the gradient check adds any others the optimum needs."""
    if len(at_zero) <= FIRST_MINIMUM:
        return at_zero
    count = max(FIRST_MINIMUM, int(FIRST_SHARE * len(at_zero)))
    return np.sort(at_zero[np.argsort(c[at_zero], kind="stable")[:count]])


def support(x: np.ndarray) -> np.ndarray:
    """Indices of the multipliers that are not zero to the solver's accuracy."""
    return np.flatnonzero(x > SUPPORT_RELATIVE * max(float(x.max(initial=0.0)), 1e-300))


def restricted(problem: QuadraticProgram, Q: sp.csc_matrix, subset: np.ndarray
               ) -> QuadraticProgram:
    """The problem on ``subset`` alone (other variables fixed at zero), bounds only."""
    k = len(subset)
    return QuadraticProgram(
        cost=np.asarray(problem.cost, dtype=np.float64)[subset], A=sp.csr_matrix((0, k)),
        row_lower=np.zeros(0), row_upper=np.zeros(0), col_lower=np.zeros(k),
        col_upper=np.full(k, np.inf), name=f"{problem.name}_working_set", meta=problem.meta,
        Q=Q[subset][:, subset].tocsc())


def solve_on_working_set(problem: QuadraticProgram, solve: SubSolve, *, solver: str,
                         start: np.ndarray | None = None, time_limit: float | None = None,
                         newton: bool = False) -> SolveResult:
    """The optimum of a non-negative QP (see :func:`is_nonnegative_qp`), found by solving
    restricted problems with ``solve(sub_problem, time_left)``.

    ``start`` is the first working set (default: :func:`first_working_set` of the variables
    whose gradient at zero is negative, i.e. the rows broken by no change). The result's sizes
    are the full problem's; its iterations and seconds add up every pass, and ``message`` says
    how many passes and how large the largest working set was. ``newton`` (for a dense
    Hessian) first tries :func:`_newton` on each working set.
    """
    n = problem.num_cols
    Q = sp.csc_matrix(problem.Q, dtype=np.float64)
    c = np.asarray(problem.cost, dtype=np.float64)
    tolerance = GRADIENT_TOLERANCE * max(1.0, float(np.abs(c).max(initial=0.0)))
    at_zero = np.flatnonzero(c < -tolerance)
    subset = first_working_set(c, at_zero) if start is None else np.unique(start)
    total = SolveResult(solver, SolveStatus.OPTIMAL, num_cols=n, num_rows=problem.num_rows,
                        num_nonzeros=problem.num_nonzeros)
    if not len(subset):  # Q is PSD and c >= 0: zero is optimal
        total.x, total.objective, total.message = np.zeros(n), 0.0, "zero is optimal"
        return total
    dropped_once = np.zeros(n, dtype=bool)
    sticky = np.zeros(n, dtype=bool)
    largest = 0
    dense = torch.from_numpy(Q.toarray()) if newton else None
    for passes in range(1, MAX_PASSES + 1):
        largest = max(largest, len(subset))
        started = time.perf_counter()
        values = _newton(dense, c, subset, total) if dense is not None else None
        total.solve_seconds += time.perf_counter() - started
        if values is None:
            remaining = None if time_limit is None else time_limit - _seconds(total)
            result = solve(restricted(problem, Q, subset), remaining)
            _accumulate(total, result)
            if not result.ok:
                total.status, total.message = result.status, result.message
                return total
            values, how = result.x, result.message
        else:
            how = "Newton steps on the working set"
        x = np.zeros(n)
        x[subset] = np.maximum(values, 0.0)
        gradient = Q[:, subset] @ x[subset] + c
        broken = np.flatnonzero((x == 0) & (gradient < -tolerance))  # outside, or dropped
        if not len(broken):
            if time_limit is not None and _seconds(total) > time_limit:
                total.status = SolveStatus.TIME_LIMIT  # as PIQP reports a late solve
                total.message = f"the QP finished after the {time_limit:g} s limit"
                return total
            total.x = x
            total.objective = float(0.5 * x @ (Q @ x) + c @ x)
            total.message = (f"{how}; working set: {passes} pass(es), at most {largest} of "
                             f"{n} variables")
            return total
        sticky[broken[dropped_once[broken]]] = True
        kept = np.zeros(n, dtype=bool)
        kept[support(x)] = True
        leaving = subset[~kept[subset] & ~sticky[subset]]
        dropped_once[leaving] = True
        subset = np.union1d(np.setdiff1d(subset, leaving), broken)
        log.debug("working set pass %d: %d broken rows join, %d zero multipliers leave",
                  passes, len(broken), len(leaving))
    log.info("the working set did not settle in %d passes; solving all %d variables",
             MAX_PASSES, n)
    remaining = None if time_limit is None else time_limit - _seconds(total)
    result = solve(restricted(problem, Q, np.arange(n)), remaining)
    _accumulate(total, result)
    total.status, total.message = result.status, result.message
    total.x, total.objective = result.x, result.objective
    return total


def _newton(dense: torch.Tensor, c: np.ndarray, subset: np.ndarray, total: SolveResult
            ) -> np.ndarray | None:
    """Guess that every variable of ``subset`` is positive at the optimum: then it solves
    ``Q_SS x = -c_S`` (one Cholesky factorisation). Variables that come out negative are
    dropped and the rest solved again, :data:`NEWTON_ATTEMPTS` times at most. Returns the
    values on ``subset`` (zeros where dropped) when all are non-negative, else None (the
    interior point then solves the subset). The caller's gradient check over every zero
    variable decides whether the guess is the optimum, so a wrong guess costs time, never
    accuracy. torch's factorisation, not SciPy's: SciPy's multi-threaded OpenBLAS slowed to a
    crawl on cores shared with other jobs (measured: 6 s against 0.2 s for 1,500 rows)."""
    active = np.arange(len(subset))
    for _ in range(NEWTON_ATTEMPTS):
        rows = torch.from_numpy(subset[active])
        total.iterations["newton"] = total.iterations.get("newton", 0) + 1
        block = dense.index_select(0, rows).index_select(1, rows)
        factor, info = torch.linalg.cholesky_ex(block)
        if int(info) != 0:  # singular on this set: leave it to the interior point
            return None
        right = torch.from_numpy(-c[subset[active]]).unsqueeze(1)
        values = torch.cholesky_solve(right, factor).squeeze(1).numpy()
        if not np.all(np.isfinite(values)):
            return None
        if np.all(values >= 0):
            x = np.zeros(len(subset))
            x[active] = values
            return x
        active = active[values > 0]
        if not len(active):
            return None
    return None


def _seconds(result: SolveResult) -> float:
    return result.build_seconds + result.solve_seconds


def _accumulate(total: SolveResult, part: SolveResult) -> None:
    total.build_seconds += part.build_seconds
    total.solve_seconds += part.solve_seconds
    for key, value in part.iterations.items():
        total.iterations[key] = total.iterations.get(key, 0) + value
