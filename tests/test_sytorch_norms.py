"""Each norm's solution is checked against an independent formulation solved by SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so

from sytorch.geometry import OutputGeometry, ParameterGeometry
from sytorch.norms import NORMS, WhitenedRows, make_norm
from sytorch.rows import RowBlock
from sytorch.solvers import make_backend
from sytorch.solvers.base import SolveStatus

K, P = 3, 5  # neurons, inputs + bias


def _rows(seed: int = 0, count: int = 6) -> RowBlock:
    rng = np.random.default_rng(seed)
    features = np.hstack([rng.normal(size=(4, P - 1)), np.ones((4, 1))])
    return RowBlock("margin", rng.normal(size=(count, K)), rng.integers(0, 4, count),
                    rng.uniform(0.5, 2.0, count), features, np.arange(count))


def _dense(block: RowBlock) -> np.ndarray:
    """The rows over vec(D) (neuron-major), built the slow, obvious way."""
    A = np.zeros((len(block), K * P))
    for r in range(len(block)):
        for k in range(K):
            A[r, k * P:(k + 1) * P] = block.coef[r, k] * block.features[block.source[r]]
    return A


def _solve(name: str, block: RowBlock, geometry=None, bound=None):
    geometry = geometry or ParameterGeometry()
    rows = WhitenedRows.build([block], geometry, P)
    outcome = make_norm(name).solve(rows, make_backend("highs"), column_bound=bound)
    assert outcome.result.status == SolveStatus.OPTIMAL
    return geometry.unwhiten(outcome.whitened_change), outcome


def test_the_sparse_matrix_is_the_rows():
    block = _rows()
    rows = WhitenedRows.build([block], ParameterGeometry(), P)
    assert np.allclose(rows.matrix().toarray(), _dense(block))
    change = np.random.default_rng(1).normal(size=(K, P))
    assert np.allclose(block.values(change), _dense(block) @ change.ravel())


def test_l2_dual_matches_the_primal_minimum_norm_solution():
    block = _rows()
    change, _ = _solve("l2", block)
    A, b = _dense(block), block.rhs
    primal = so.minimize(lambda x: 0.5 * x @ x, np.zeros(K * P), jac=lambda x: x,
                         constraints=[{"type": "ineq", "fun": lambda x: A @ x - b,
                                       "jac": lambda x: A}], method="SLSQP",
                         options={"ftol": 1e-12, "maxiter": 500})
    assert primal.success
    assert np.allclose(change.ravel(), primal.x, atol=1e-5)
    assert (A @ change.ravel() - b).min() > -1e-5


@pytest.mark.parametrize("name", ["linf", "l1", "linf+l1"])
def test_linear_norms_match_their_textbook_lps(name):
    block = _rows(seed=2)
    change, _ = _solve(name, block)
    A, b, n = _dense(block), block.rhs, K * P
    # variables [pos, neg, t]; change = pos - neg; t >= pos + neg entrywise
    weights = {"linf": (0.0, 1.0), "l1": (1.0, 0.0), "linf+l1": (1.0 / n, 1.0)}[name]
    cost = np.concatenate([np.full(2 * n, weights[0]), [weights[1]]])
    a_ub = np.vstack([np.hstack([-A, A, np.zeros((len(b), 1))]),
                      np.hstack([np.eye(n), np.eye(n), -np.ones((n, 1))])])
    b_ub = np.concatenate([-b, np.zeros(n)])
    reference = so.linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    assert reference.status == 0
    magnitude = np.abs(change)
    ours = weights[0] * magnitude.sum() + weights[1] * magnitude.max()
    assert ours == pytest.approx(reference.fun, rel=1e-6, abs=1e-9)
    assert (A @ change.ravel() - b).min() > -1e-5


@pytest.mark.parametrize("name", ["linf", "l1", "linf+l1"])
def test_a_column_bound_is_honoured(name):
    """Just above the smallest possible largest entry (the linf optimum) the bound must hold;
    just below it no change exists, and SciPy's feasibility LP agrees on both."""
    block = _rows(seed=3)
    smallest_max = np.abs(_solve("linf", block)[0]).max()
    rows = WhitenedRows.build([block], ParameterGeometry(), P)
    for factor, feasible in ((1.1, True), (0.9, False)):
        bound = factor * smallest_max
        oracle = so.linprog(np.zeros(K * P), A_ub=-_dense(block), b_ub=-block.rhs,
                            bounds=[(-bound, bound)] * (K * P), method="highs")
        assert (oracle.status == 0) is feasible, (factor, oracle.message)
        outcome = make_norm(name).solve(rows, make_backend("highs"), column_bound=bound)
        if feasible:
            assert outcome.result.status == SolveStatus.OPTIMAL
            change = outcome.whitened_change.ravel()
            assert np.abs(change).max() <= bound * (1 + 1e-7)
            assert np.all(_dense(block) @ change >= block.rhs - 1e-6)
        else:
            assert outcome.result.status == SolveStatus.INFEASIBLE


@pytest.mark.parametrize("name", sorted(NORMS))
def test_contradictory_rows_are_infeasible(name):
    features = np.array([[1.0, 0, 0, 0, 1.0]])
    coef = np.zeros((2, K))
    coef[0, 0], coef[1, 0] = 1.0, -1.0  # D[0] . f >= 1 and -(D[0] . f) >= 0
    block = RowBlock("margin", coef, [0, 0], [1.0, 0.0], features, [0, 0])
    rows = WhitenedRows.build([block], ParameterGeometry(), P)
    outcome = make_norm(name).solve(rows, make_backend("highs"))
    assert outcome.result.status == SolveStatus.INFEASIBLE
    assert outcome.whitened_change is None


def test_output_geometry_minimises_the_mean_squared_output_change():
    rng = np.random.default_rng(4)
    reference = np.hstack([rng.normal(size=(200, P - 1)) * [3, 1, 0.1, 1], np.ones((200, 1))])
    geometry = OutputGeometry.from_features(reference, eps=1e-6)
    block = _rows(seed=5)
    change, outcome = _solve("l2", block, geometry)
    # the objective is exactly the mean squared output change (plus the tiny ridge)
    outputs = reference @ change.T
    assert outcome.result.objective == pytest.approx(0.5 * (outputs ** 2).sum() / 200, rel=1e-3)
    # and no other feasible change has smaller output change: compare with the raw-L2 answer
    raw, _ = _solve("l2", block)
    assert (reference @ raw.T).var() >= outputs.var() * (1 - 1e-6)
    assert (block.values(change) - block.rhs).min() > -1e-6


def test_unit_rows_are_whitened_columns_of_the_inverse_cholesky():
    rng = np.random.default_rng(6)
    reference = np.hstack([rng.normal(size=(50, P - 1)), np.ones((50, 1))])
    geometry = OutputGeometry.from_features(reference, eps=1e-3)
    coordinates = np.array([0, 3])
    units = geometry.whiten_units(coordinates, P)
    assert np.allclose(units, geometry.whiten(np.eye(P)[coordinates]))
    v = rng.normal(size=(K, P))
    assert np.allclose(geometry.whiten(reference) @ v.T, reference @ geometry.unwhiten(v).T)
