"""Back ends agree with each other, report their work, and fail in the ways users can act on."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sytorch.errors import SytorchError
from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.solvers import SolverLicenceError, make_backend
from sytorch.solvers.base import SolveStatus
from sytorch.solvers.gurobi_backend import (
    RESTRICTED_LIMIT,
    RESTRICTED_QUADRATIC_LIMIT,
    licence_is_size_limited,
)


def _small_lp() -> LinearProgram:
    # min x + 2y  s.t.  x + y >= 1,  x - y <= 0.5,  0 <= x, y <= 10  ->  x = 0.75, y = 0.25
    return LinearProgram(np.array([1.0, 2.0]), sp.csr_matrix([[1.0, 1.0], [1.0, -1.0]]),
                         np.array([1.0, -np.inf]), np.array([np.inf, 0.5]), np.zeros(2),
                         np.full(2, 10.0))


def _small_qp() -> QuadraticProgram:
    # min 1/2 |x|^2 - x1 - 2 x2  s.t.  x1 + x2 <= 1, x >= 0  ->  x = (0, 1)
    return QuadraticProgram(np.array([-1.0, -2.0]), sp.csr_matrix([[1.0, 1.0]]),
                            np.array([-np.inf]), np.array([1.0]), np.zeros(2),
                            np.full(2, np.inf), Q=sp.csc_matrix(np.eye(2)))


@pytest.mark.parametrize("solver", ["highs", "gurobi", "piqp", "auto"])
def test_back_ends_solve_the_same_lp_and_qp(solver):
    backend = make_backend(solver)
    lp = backend.solve(_small_lp())
    assert lp.status == SolveStatus.OPTIMAL
    assert np.allclose(lp.x, [0.75, 0.25], atol=1e-7)
    assert lp.objective == pytest.approx(1.25)
    assert lp.num_rows == 2 and lp.num_cols == 2 and lp.solve_seconds >= 0
    assert set(lp.iterations) >= ({"simplex", "barrier"} if lp.solver == "gurobi"
                                  else {"simplex", "ipm"})
    qp = backend.solve(_small_qp())
    assert qp.status == SolveStatus.OPTIMAL
    # x1 sits at its bound with a zero multiplier (degenerate): an interior point approaches
    # such a point only like the square root of its tolerance
    assert np.allclose(qp.x, [0.0, 1.0], atol=1e-4 if qp.solver == "piqp" else 1e-5)
    assert qp.objective == pytest.approx(-1.5, abs=1e-8)


def _dense_dual_qp(rows: int, seed: int = 0) -> QuadraticProgram:
    """The shape of the l2 repair's dual: min 1/2 l^T Q l - r^T l, l >= 0, Q = M M^T."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(rows, 3 * rows))
    return QuadraticProgram(-rng.uniform(0.1, 1.0, rows), sp.csr_matrix(np.ones((1, rows))),
                            np.zeros(1), np.full(1, np.inf), np.zeros(rows),
                            np.full(rows, np.inf), Q=sp.csc_matrix(M @ M.T))


@pytest.mark.parametrize("rows", [60, 200])
def test_piqp_and_highs_agree_on_a_dense_dual_qp(rows):
    problem = _dense_dual_qp(rows)
    piqp, highs = make_backend("piqp").solve(problem), make_backend("highs").solve(problem)
    assert piqp.status == highs.status == SolveStatus.OPTIMAL
    assert piqp.solver == "piqp" and highs.solver == "highs"
    assert piqp.objective == pytest.approx(highs.objective, rel=1e-7)
    assert np.allclose(piqp.x, highs.x, atol=1e-6)
    assert sum(piqp.iterations.values()) > 0  # Newton steps on the working set, or PIQP's
    assert "dense" in make_backend("piqp")._solve_qp(problem, None).message


def test_piqp_takes_a_sparse_hessian_to_its_sparse_solver():
    blocks = [_dense_dual_qp(20, seed).Q for seed in range(30)]  # block diagonal, 3% full
    problem = _dense_dual_qp(600)
    problem.Q = sp.block_diag(blocks, format="csc")
    piqp, highs = make_backend("piqp").solve(problem), make_backend("highs").solve(problem)
    assert "sparse" in piqp.message
    assert piqp.objective == pytest.approx(highs.objective, rel=1e-7)


def test_piqp_hands_lps_to_highs_and_reports_an_unbounded_qp():
    assert make_backend("piqp").solve(_small_lp()).solver == "highs"
    problem = _small_qp()
    problem.Q = sp.csc_matrix(np.diag([1.0, 0.0]))  # x2 free to grow without the row
    problem.A, problem.row_lower, problem.row_upper = (sp.csr_matrix((0, 2)), np.zeros(0),
                                                       np.zeros(0))
    assert make_backend("piqp").solve(problem).status == SolveStatus.UNBOUNDED


def test_piqp_reports_a_solve_that_ends_after_the_limit():
    result = make_backend("piqp").solve(_dense_dual_qp(300), time_limit=1e-6)
    assert result.status == SolveStatus.TIME_LIMIT and result.x is None
    assert "limit" in result.message


def test_infeasible_lp_is_reported_not_raised():
    lp = _small_lp()
    lp.row_lower[0] = 30.0  # x + y >= 30 with x, y <= 10
    for solver in ("highs", "gurobi"):
        result = make_backend(solver).solve(lp)
        assert result.status == SolveStatus.INFEASIBLE
        assert result.x is None


def _wide_lp(columns: int) -> LinearProgram:
    return LinearProgram(np.ones(columns), sp.csr_matrix(np.ones((1, columns))), np.ones(1),
                         np.full(1, np.inf), np.zeros(columns), np.ones(columns))


def test_a_size_limited_gurobi_licence_is_one_line_naming_highs():
    if not licence_is_size_limited():
        pytest.skip("this machine's Gurobi licence is not size-limited")
    with pytest.raises(SolverLicenceError) as caught:
        make_backend("gurobi").solve(_wide_lp(RESTRICTED_LIMIT + 500))
    message = str(caught.value)
    assert "size-limited" in message and "--solver highs" in message and "\n" not in message
    assert isinstance(caught.value, SytorchError) and caught.value.is_user_error


def test_auto_picks_what_the_readme_says(monkeypatch):
    """README: auto = PIQP for the l2 dual QP, HiGHS for LPs, Gurobi only with a licence that is
    not size-limited (and never a mix of Gurobi and the others by problem size)."""
    import sytorch.solvers as solvers

    monkeypatch.setattr(solvers, "gurobi_unrestricted", lambda: False)
    auto = make_backend("auto")
    assert make_backend("auto").solve(_small_lp()).solver == "highs"
    assert auto.solve(_dense_dual_qp(RESTRICTED_QUADRATIC_LIMIT - 50)).solver == "piqp"
    big_lp = auto.solve(_wide_lp(RESTRICTED_LIMIT + 500))
    assert big_lp.status == SolveStatus.OPTIMAL and big_lp.solver == "highs"
    monkeypatch.setattr(solvers, "gurobi_unrestricted", lambda: True)
    assert make_backend("auto").choose(_small_qp()).name == "gurobi"
    # and on this machine, whatever its licence says:
    monkeypatch.undo()
    expected = "piqp" if licence_is_size_limited() else "gurobi"
    assert make_backend("auto").solve(_small_qp()).solver == expected


def test_auto_is_the_default_solver():
    from edits.config import RepairConfig

    assert RepairConfig().solver == "auto"


def _sparse_dual_qp(rows: int, seed: int = 0) -> QuadraticProgram:
    """A dual QP whose optimum has many zero multipliers: a third of its rows hold at zero."""
    problem = _dense_dual_qp(rows, seed)
    rng = np.random.default_rng(seed + 1)
    problem.cost = -rng.uniform(-1.0, 0.5, rows)
    return problem


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_working_set_reaches_the_full_qps_optimum(seed):
    from sytorch.solvers.working_set import solve_on_working_set

    problem = _sparse_dual_qp(150, seed)
    full = make_backend("highs").solve(problem)
    backend = make_backend("piqp")
    result = backend.solve(problem)
    assert result.status == full.status == SolveStatus.OPTIMAL
    assert "working set" in result.message and result.num_cols == 150
    assert result.objective == pytest.approx(full.objective, rel=1e-7)
    assert np.allclose(result.x, full.x, atol=1e-5)
    gradient = problem.Q @ result.x + problem.cost  # KKT on every variable, not just the set
    assert gradient.min() > -1e-6 and np.abs(result.x * gradient).max() < 1e-6
    # any start gives the same optimum: a wrong one (the zero multipliers) only costs passes
    wrong = np.flatnonzero(full.x < 1e-9)
    again = solve_on_working_set(problem, backend._solve_qp, solver="piqp", start=wrong)
    assert again.objective == pytest.approx(full.objective, rel=1e-7)


def test_piqp_starts_the_next_round_from_the_last_support():
    problem = _sparse_dual_qp(120)
    backend = make_backend("piqp")
    first = backend.solve(problem)
    grown = _sparse_dual_qp(150)  # not the same QP: the start is a hint, the answer exact
    second = backend.solve(grown)
    assert first.ok and second.ok
    assert second.objective == pytest.approx(make_backend("highs").solve(grown).objective,
                                             rel=1e-7)


def test_highs_honours_a_time_limit():
    rng = np.random.default_rng(0)
    rows, cols = 400, 4000
    A = sp.random(rows, cols, density=0.2, random_state=1, format="csr")
    lp = LinearProgram(rng.uniform(-1, 1, cols), A, np.full(rows, -np.inf),
                       rng.uniform(0.5, 1, rows), np.full(cols, -1.0), np.full(cols, 1.0))
    result = make_backend("highs").solve(lp, time_limit=1e-3)
    assert result.status == SolveStatus.TIME_LIMIT
    assert result.x is None


def test_unknown_solver_is_a_user_error():
    with pytest.raises(SytorchError, match="unknown solver 'cplex'"):
        make_backend("cplex")
