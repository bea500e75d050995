"""HiGHS (``highspy``): open source, no size limit; ``auto`` sends it every LP."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

import highspy
import numpy as np
import scipy.sparse as sp

from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.solvers.base import SolverBackend, SolveResult, SolveStatus, register_solver

_STATUS = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kTimeLimit: SolveStatus.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: SolveStatus.ITERATION_LIMIT,
}


@register_solver("highs", "HiGHS for every LP and QP (QPs by its active set: slower from a "
                          "few hundred images)")
class HighsBackend(SolverBackend):

    def __init__(self, *, lp_method: str = "choose", verbose: bool = False):
        self.lp_method = lp_method  # HiGHS "solver" option: choose, simplex, ipm
        self.verbose = verbose

    def solve(self, problem: LinearProgram | QuadraticProgram, *,
              time_limit: float | None = None, threads: int | None = None) -> SolveResult:
        started = time.perf_counter()
        with _silenced_stdout(not self.verbose):
            highs = highspy.Highs()
        highs.setOptionValue("output_flag", self.verbose)
        if time_limit is not None:
            highs.setOptionValue("time_limit", float(time_limit))
        if threads:
            highs.setOptionValue("threads", int(threads))
        is_qp = isinstance(problem, QuadraticProgram) and problem.Q is not None
        if not is_qp:
            method = self.lp_method
            if method == "choose":  # the norm knows which algorithm its LP suits (measured)
                method = problem.meta.get("method_hint", "choose")
            highs.setOptionValue("solver", method)
        model = highspy.HighsModel()
        model.lp_ = _to_highs_lp(problem)
        if is_qp:
            model.hessian_ = _to_highs_hessian(problem.Q)
        status = highs.passModel(model)
        build = time.perf_counter() - started
        if status == highspy.HighsStatus.kError:
            return SolveResult(self.name, SolveStatus.ERROR, message="HiGHS rejected the model",
                               build_seconds=build, **_sizes(problem))
        started = time.perf_counter()
        highs.run()
        solve_seconds = time.perf_counter() - started
        model_status = highs.getModelStatus()
        info = highs.getInfo()
        result = SolveResult(
            self.name, _STATUS.get(model_status, SolveStatus.ERROR),
            build_seconds=build, solve_seconds=solve_seconds,
            iterations={"simplex": max(0, int(info.simplex_iteration_count)),  # -1: not run
                        "ipm": max(0, int(info.ipm_iteration_count)),
                        "crossover": max(0, int(info.crossover_iteration_count)),
                        "qp": max(0, int(info.qp_iteration_count))},
            message=highs.modelStatusToString(model_status), **_sizes(problem))
        if result.status == SolveStatus.OPTIMAL:
            result.x = np.asarray(highs.getSolution().col_value, dtype=np.float64)
            result.objective = float(info.objective_function_value)
        return result


@contextlib.contextmanager
def _silenced_stdout(active: bool) -> Iterator[None]:
    """HiGHS prints its banner from C++ in the constructor, before any option can stop it; it
    would land in the middle of a script's table. Point file descriptor 1 away meanwhile."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _sizes(problem: LinearProgram) -> dict[str, int]:
    return {"num_cols": problem.num_cols, "num_rows": problem.num_rows,
            "num_nonzeros": problem.num_nonzeros}


def _to_highs_lp(problem: LinearProgram) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_ = problem.num_cols
    lp.num_row_ = problem.num_rows
    lp.col_cost_ = np.asarray(problem.cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(problem.col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(problem.col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(problem.row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(problem.row_upper, dtype=np.float64)
    matrix = sp.csc_matrix(problem.A, dtype=np.float64)
    matrix.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = problem.num_cols
    lp.a_matrix_.num_row_ = problem.num_rows
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data
    return lp


def _to_highs_hessian(Q: sp.spmatrix) -> highspy.HighsHessian:
    """HiGHS takes the lower triangle, column-wise."""
    lower = sp.tril(sp.csc_matrix(Q, dtype=np.float64), format="csc")
    lower.sort_indices()
    hessian = highspy.HighsHessian()
    hessian.dim_ = Q.shape[0]
    hessian.format_ = highspy.HessianFormat.kTriangular
    hessian.start_ = lower.indptr.astype(np.int32)
    hessian.index_ = lower.indices.astype(np.int32)
    hessian.value_ = lower.data
    return hessian
