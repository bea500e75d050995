"""Gurobi (``gurobipy``), used when asked for, or by ``auto`` when its licence is big enough.

The PyPI wheel carries a size-limited licence: 2,000 variables and 2,000 constraints, and only
200 variables once the objective is quadratic (measured with gurobipy 13). A model over that
limit fails inside Gurobi with "Model too large for size-limited license"; that is turned into a
:class:`SolverLicenceError`, which the repair reports as one line naming ``--solver highs``.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from sytorch.errors import SytorchError
from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.solvers.base import SolverBackend, SolveResult, SolveStatus, register_solver

SIZE_LIMITED_CODE = 10010  # GRB_ERROR_SIZE_LIMIT_EXCEEDED
RESTRICTED_LIMIT = 2000
RESTRICTED_QUADRATIC_LIMIT = 200


class SolverLicenceError(SytorchError):
    """The solver's licence cannot take a problem of this size."""


@register_solver("gurobi", "Gurobi (licence permitting)")
class GurobiBackend(SolverBackend):

    def __init__(self, *, verbose: bool = False, method: int = -1):
        try:
            import gurobipy
        except ImportError as error:  # pragma: no cover - a dependency of the project
            raise SytorchError(f"gurobipy is not installed ({error}); use --solver highs") from None
        self.gp = gurobipy
        self.verbose = verbose
        self.method = method  # -1 automatic, 2 barrier, 1 dual simplex, ...

    def fits(self, problem: LinearProgram) -> bool:
        """Whether the licence takes the problem: probe once with a model of the same size."""
        if _within_restricted_licence(problem):
            return True
        return not licence_is_size_limited()

    def solve(self, problem: LinearProgram | QuadraticProgram, *,
              time_limit: float | None = None, threads: int | None = None) -> SolveResult:
        gp = self.gp
        started = time.perf_counter()
        try:
            env = gp.Env(empty=True)
            env.setParam("OutputFlag", int(self.verbose))
            env.start()
            model = gp.Model(problem.name, env=env)
            if time_limit is not None:
                model.Params.TimeLimit = float(time_limit)
            if threads:
                model.Params.Threads = int(threads)
            hint = {"ipm": 2, "simplex": 1}.get(problem.meta.get("method_hint", ""), -1)
            model.Params.Method = self.method if self.method != -1 else hint
            # The repair reads the QP's multipliers back into a change, so it needs them to
            # solver precision, not just the objective: tighten barrier convergence.
            model.Params.BarConvTol = 1e-10
            x = model.addMVar(problem.num_cols, lb=_finite(problem.col_lower),
                              ub=_finite(problem.col_upper))
            objective = problem.cost @ x
            if isinstance(problem, QuadraticProgram) and problem.Q is not None:
                objective = objective + 0.5 * (x @ problem.Q @ x)
            model.setObjective(objective, gp.GRB.MINIMIZE)
            _add_rows(model, x, problem)
            model.update()
            build = time.perf_counter() - started
            started = time.perf_counter()
            model.optimize()
        except gp.GurobiError as error:
            if getattr(error, "errno", None) == SIZE_LIMITED_CODE or "size-limited" in str(error):
                kind = "quadratic " if _is_quadratic(problem) else ""
                raise SolverLicenceError(
                    f"Gurobi's licence here is size-limited ({RESTRICTED_LIMIT} variables and "
                    f"constraints, {RESTRICTED_QUADRATIC_LIMIT} variables for a quadratic "
                    f"objective) and this {kind}problem has {problem.num_cols} variables and "
                    f"{problem.num_rows} constraints; use --solver auto (PIQP and HiGHS) or "
                    "--solver highs") from None
            return SolveResult(self.name, SolveStatus.ERROR, message=str(error),
                               num_cols=problem.num_cols, num_rows=problem.num_rows,
                               num_nonzeros=problem.num_nonzeros)
        solve_seconds = time.perf_counter() - started
        status = _status(gp, model.Status)
        result = SolveResult(
            self.name, status, build_seconds=build, solve_seconds=solve_seconds,
            iterations={"simplex": int(model.IterCount), "barrier": int(model.BarIterCount)},
            message=f"Gurobi status {model.Status}", num_cols=problem.num_cols,
            num_rows=problem.num_rows, num_nonzeros=problem.num_nonzeros)
        if status == SolveStatus.OPTIMAL:
            result.x = np.asarray(x.X, dtype=np.float64)
            result.objective = float(model.ObjVal)
        model.dispose()
        env.dispose()
        return result


@functools.cache
def licence_is_size_limited() -> bool:
    """True when a model just over the restricted size is refused by the licence (asked once)."""
    import gurobipy as gp

    try:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
        model = gp.Model(env=env)
        model.addMVar(RESTRICTED_LIMIT + 1)
        model.optimize()
        model.dispose()
        env.dispose()
    except gp.GurobiError as error:
        return getattr(error, "errno", None) == SIZE_LIMITED_CODE or "size-limited" in str(error)
    return False


def _is_quadratic(problem: LinearProgram) -> bool:
    return isinstance(problem, QuadraticProgram) and problem.Q is not None


def _within_restricted_licence(problem: LinearProgram) -> bool:
    columns = RESTRICTED_QUADRATIC_LIMIT if _is_quadratic(problem) else RESTRICTED_LIMIT
    return problem.num_cols <= columns and problem.num_rows <= RESTRICTED_LIMIT


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).copy()
    values[np.isposinf(values)] = float("inf")
    values[np.isneginf(values)] = -float("inf")
    return values


def _add_rows(model, x, problem: LinearProgram) -> None:
    A = problem.A.tocsr()
    lower, upper = problem.row_lower, problem.row_upper
    equal = np.isfinite(lower) & np.isfinite(upper) & (lower == upper)
    has_lower = np.isfinite(lower) & ~equal
    has_upper = np.isfinite(upper) & ~equal
    if equal.any():
        model.addMConstr(A[equal], x, "=", lower[equal])
    if has_lower.any():
        model.addMConstr(A[has_lower], x, ">", lower[has_lower])
    if has_upper.any():
        model.addMConstr(A[has_upper], x, "<", upper[has_upper])


def _status(gp, code: int) -> SolveStatus:
    grb = gp.GRB.Status
    return {grb.OPTIMAL: SolveStatus.OPTIMAL, grb.INFEASIBLE: SolveStatus.INFEASIBLE,
            grb.INF_OR_UNBD: SolveStatus.INFEASIBLE, grb.UNBOUNDED: SolveStatus.UNBOUNDED,
            grb.TIME_LIMIT: SolveStatus.TIME_LIMIT,
            grb.ITERATION_LIMIT: SolveStatus.ITERATION_LIMIT}.get(code, SolveStatus.ERROR)
