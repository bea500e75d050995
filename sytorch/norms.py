"""Objectives: how the size of a change is measured, one class per norm, registered by name.

All norms act on the change in the chosen geometry's coordinates (``v_k = L^T D[k]``; the raw
change itself for the ``parameters`` geometry) and take the same active rows.

* ``l2``: ``1/2 |v|^2``. Solved through its dual, a QP with one variable per row:
  ``min 1/2 l^T Q l - rhs^T l, l >= 0`` with ``Q = (coef coef^T) * (phi phi^T)``. Its size does not
  grow with the layer's width, which is why it is fast for any layer.
* ``linf``: ``max |v|``, as one LP with box bounds only (maximise ``s`` subject to
  ``A u >= rhs * s``, ``|u| <= 1``, ``v = u / s``): the epigraph form with one variable bounding
  every entry is a dense column and much slower (docs/repair-measurements.md).
* ``l1``: ``sum |v|``, with ``v = pos - neg``.
* ``linf+l1``: ``max |v| + mean |v|``, by Dinkelbach's method over box-only LPs.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sytorch.errors import SytorchError
from sytorch.geometry import Geometry
from sytorch.program import LinearProgram, QuadraticProgram
from sytorch.rows import RowBlock
from sytorch.solvers.base import SolverBackend, SolveResult, SolveStatus
from sytorch.solvers.memory import require_dual_qp_memory

log = logging.getLogger(__name__)

MAX_LP_NONZEROS = 60_000_000  # beyond this an LP does not fit in memory here; use l2
SLOW_ACTIVE_SET_SECONDS = 60.0  # when to point at --solver piqp (docs/repair-measurements.md)
PRIMAL_TOLERANCE = 1e-6  # relative row violation accepted from a solver (margins carry slack)


@dataclass
class WhitenedRows:
    """Active rows in the geometry's coordinates, with features stored once per source."""

    coef: np.ndarray  # (R, K)
    rhs: np.ndarray  # (R,)
    features: np.ndarray  # (U, p) whitened feature vectors
    which: np.ndarray  # (R,) row -> features index

    @classmethod
    def build(cls, blocks: list[RowBlock], geometry: Geometry, width: int) -> WhitenedRows:
        coefs, rhss, tables, whiches, offset = [], [], [], [], 0
        for block in blocks:
            if not len(block):
                continue
            used, inverse = np.unique(block.source, return_inverse=True)
            table = (geometry.whiten_units(used, width) if block.is_unit
                     else geometry.whiten(block.features[used]))
            coefs.append(block.coef)
            rhss.append(block.rhs)
            tables.append(table)
            whiches.append(inverse + offset)
            offset += len(used)
        return cls(np.concatenate(coefs), np.concatenate(rhss), np.concatenate(tables),
                   np.concatenate(whiches))

    @property
    def num_rows(self) -> int:
        return len(self.rhs)

    @property
    def num_neurons(self) -> int:
        return self.coef.shape[1]

    @property
    def width(self) -> int:
        return self.features.shape[1]

    def matrix(self) -> sp.csr_matrix:
        """The rows over all K*p change variables (neuron-major), as a sparse matrix."""
        rows, cols, vals = [], [], []
        p = self.width
        for k in range(self.num_neurons):
            active = np.flatnonzero(self.coef[:, k])
            if not len(active):
                continue
            block = self.coef[active, k, None] * self.features[self.which[active]]
            r, c = np.nonzero(block)
            rows.append(active[r])
            cols.append(c + k * p)
            vals.append(block[r, c])
        if not rows:
            return sp.csr_matrix((self.num_rows, self.num_neurons * p))
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(self.num_rows, self.num_neurons * p))

    def values(self, whitened_change: np.ndarray) -> np.ndarray:
        """Left-hand sides at a change given in these (whitened) coordinates."""
        per_feature = self.features @ whitened_change.T  # (U, K)
        return np.einsum("rk,rk->r", self.coef, per_feature[self.which])

    def row_lengths(self) -> np.ndarray:
        """Euclidean length of each row over all K*p variables."""
        feature_norms = np.sqrt(np.einsum("up,up->u", self.features, self.features))
        return np.sqrt(np.einsum("rk,rk->r", self.coef, self.coef)) * feature_norms[self.which]

    def worst_violation(self, whitened_change: np.ndarray) -> float:
        """Largest distance by which the change falls short of a row's half-space, relative to
        the change's own size (so rows of any length and scale compare); 0 when all hold."""
        if not len(self.rhs):
            return 0.0
        lengths = np.maximum(self.row_lengths(), 1e-300)
        distance = (self.rhs - self.values(whitened_change)) / lengths
        scale = max(1.0, float(np.linalg.norm(whitened_change)))
        return float(max(distance.max(), 0.0)) / scale

    def estimated_nonzeros(self) -> int:
        return int(np.count_nonzero(self.coef)) * self.width


@dataclass
class NormSolution:
    whitened_change: np.ndarray | None  # (K, p) in the geometry's coordinates
    result: SolveResult


class Norm(abc.ABC):
    name: str
    summary: str

    def solve(self, rows: WhitenedRows, backend: SolverBackend, *,
              column_bound: float | None = None, time_limit: float | None = None) -> NormSolution:
        """Smallest change (in this norm) meeting every row; ``column_bound`` caps each entry."""
        if rows.num_rows == 0:
            zero = np.zeros((rows.num_neurons, rows.width))
            return NormSolution(zero, SolveResult("none", SolveStatus.OPTIMAL, x=np.zeros(0),
                                                  objective=0.0, message="no active rows"))
        return self._solve(rows, backend, column_bound, time_limit)

    @abc.abstractmethod
    def _solve(self, rows: WhitenedRows, backend: SolverBackend, column_bound: float | None,
               time_limit: float | None) -> NormSolution: ...


NORMS: dict[str, type[Norm]] = {}


def register_norm(name: str) -> Callable[[type[Norm]], type[Norm]]:
    """Class decorator: the norm answers to ``--norm name``; its ``summary`` is its help."""
    def decorate(cls: type[Norm]) -> type[Norm]:
        cls.name = name
        NORMS[name] = cls
        return cls
    return decorate


def norm_help() -> str:
    """``--norm``'s help, one clause per registered norm."""
    return "how the change's size is measured: " + "; ".join(
        f"{name}: {cls.summary}" for name, cls in NORMS.items())


@register_norm("l2")
class L2Norm(Norm):
    summary = "sum of squared changes (in the geometry's coordinates), solved as a dual QP"

    def _solve(self, rows, backend, column_bound, time_limit):
        del column_bound  # bounds arrive as rows for this norm
        require_dual_qp_memory(rows.coef, len(rows.features))  # one line now, not a kill later
        Q = _dual_hessian(rows)
        m = rows.num_rows
        # Rows of very different lengths (a label row beside a whitened bound row, whose
        # length grows like 1/sqrt(eps)) make the dual badly scaled; dividing every row by its
        # length leaves the primal unchanged and puts ones on Q's diagonal.
        length = np.sqrt(np.maximum(Q.diagonal(), 1e-300))
        scale = sp.diags(1.0 / length)
        Q = (scale @ Q @ scale).tocsc()
        rhs = rows.rhs / length
        # One always-satisfied row: HiGHS 1.15 returned "optimal" with a zero solution for QPs
        # with bounds only (../shared/notes/repair-drawdown.md); the row costs nothing.
        qp = QuadraticProgram(
            cost=-rhs, A=sp.csr_matrix(np.ones((1, m))), row_lower=np.zeros(1),
            row_upper=np.full(1, np.inf), col_lower=np.zeros(m), col_upper=np.full(m, np.inf),
            name="repair_dual_qp", Q=Q)
        result = backend.solve(qp, time_limit=time_limit)
        if result.solver == "highs" and result.solve_seconds > SLOW_ACTIVE_SET_SECONDS:
            log.info("HiGHS's active-set QP took %.0f s for %d rows; --solver piqp (interior "
                     "point) solves dual QPs of this size several times faster",
                     result.solve_seconds, m)
        if result.status == SolveStatus.UNBOUNDED:  # an unbounded dual is an infeasible repair
            result.status = SolveStatus.INFEASIBLE
        if not result.ok:
            return NormSolution(None, result)
        weights = np.zeros((len(rows.features), rows.num_neurons))
        np.add.at(weights, rows.which, (result.x / length)[:, None] * rows.coef)
        change = weights.T @ rows.features
        result.objective = 0.5 * float(np.sum(change * change))  # the primal objective
        violation = rows.worst_violation(change)
        if violation > PRIMAL_TOLERANCE:
            # Never trust the status alone: HiGHS reports "optimal" for a diverging dual (an
            # infeasible repair) with huge multipliers. A feasibility LP tells the two apart.
            return self._explain_violation(rows, backend, time_limit, result, violation)
        return NormSolution(change, result)

    @staticmethod
    def _explain_violation(rows: WhitenedRows, backend: SolverBackend, time_limit: float | None,
                           result: SolveResult, violation: float) -> NormSolution:
        feasibility = LinfNorm().solve(rows, backend, time_limit=time_limit).result
        if feasibility.status == SolveStatus.INFEASIBLE:
            result.status = SolveStatus.INFEASIBLE
            result.message = "no change meets every row (the dual QP diverged)"
        else:
            result.status = SolveStatus.ERROR
            result.message = (f"the QP answer misses its rows by {violation:.2g} although a "
                              "solution exists; try --solver piqp or --norm linf")
        return NormSolution(None, result)


def _dual_hessian(rows: WhitenedRows) -> sp.csr_matrix:
    """``Q = (coef coef^T) * (phi phi^T)``, computed only where ``coef coef^T`` is non-zero.

    Rows that keep one hidden neuron's ReLU pattern share no coefficient with rows of another
    neuron, so for a hidden layer Q is mostly zeros: 12,800 pattern rows of 256 neurons give
    a block-diagonal 256 x (50 x 50) structure, not 164M dense entries.
    """
    coef = sp.csr_matrix(rows.coef)
    pattern = (coef @ coef.T).tocoo()
    gram = rows.features @ rows.features.T
    values = pattern.data * gram[rows.which[pattern.row], rows.which[pattern.col]]
    return sp.csr_matrix((values, (pattern.row, pattern.col)), shape=pattern.shape)


class _LinearNorm(Norm):
    def _matrix(self, rows: WhitenedRows) -> sp.csr_matrix:
        estimate = rows.estimated_nonzeros()
        if estimate > MAX_LP_NONZEROS:
            raise SytorchError(
                f"the {self.name} LP would hold about {estimate / 1e6:.0f}M nonzeros "
                f"(limit {MAX_LP_NONZEROS / 1e6:.0f}M); use --norm l2, fewer --neurons or fewer "
                "images")
        return rows.matrix()


@register_norm("linf")
class LinfNorm(_LinearNorm):
    summary = "largest absolute change, as one LP with box bounds (max s: A u >= rhs s, |u| <= 1)"

    def _solve(self, rows, backend, column_bound, time_limit):
        A = self._matrix(rows)
        n = A.shape[1]
        s_lower = 1.0 / column_bound if column_bound else 0.0
        lp = LinearProgram(
            cost=np.concatenate([np.zeros(n), [-1.0]]),
            A=sp.hstack([A, sp.csr_matrix(-rows.rhs[:, None])], format="csr"),
            row_lower=np.zeros(rows.num_rows), row_upper=np.full(rows.num_rows, np.inf),
            col_lower=np.concatenate([-np.ones(n), [s_lower]]),
            col_upper=np.concatenate([np.ones(n), [1e12]]), name="repair_linf",
            meta={"method_hint": "ipm"})  # IPM beat simplex here: docs/repair-measurements.md
        result = backend.solve(lp, time_limit=time_limit)
        if not result.ok:
            return NormSolution(None, result)
        scale = result.x[-1]
        if scale <= 1e-12:
            result.status = SolveStatus.INFEASIBLE
            result.message = "only the zero scale is feasible"
            return NormSolution(None, result)
        result.objective = 1.0 / scale
        return NormSolution((result.x[:n] / scale).reshape(rows.num_neurons, rows.width), result)


@register_norm("l1")
class L1Norm(_LinearNorm):
    summary = "sum of absolute changes (LP, change = pos - neg)"

    def _solve(self, rows, backend, column_bound, time_limit):
        A = self._matrix(rows)
        n = A.shape[1]
        upper = column_bound if column_bound else np.inf
        # Simplex beat IPM here (docs/repair-measurements.md).
        lp = LinearProgram(np.ones(2 * n), sp.hstack([A, -A], format="csr"), rows.rhs,
                           np.full(rows.num_rows, np.inf), np.zeros(2 * n), np.full(2 * n, upper),
                           name="repair_l1", meta={"method_hint": "simplex"})
        result = backend.solve(lp, time_limit=time_limit)
        if not result.ok:
            return NormSolution(None, result)
        change = result.x[:n] - result.x[n:]
        return NormSolution(change.reshape(rows.num_neurons, rows.width), result)


@register_norm("linf+l1")
class LinfL1Norm(_LinearNorm):
    """``max |v| + mean |v|`` by Dinkelbach's method on the box-scaled problem.

    The epigraph LP (``|v_j| <= t`` for every j) has a dense column in ``t`` and is slow
    (docs/repair-measurements.md). With ``v = u / s`` and ``|u| <= 1`` (as for ``linf``), the
    objective is the ratio ``(1 + mean |u|) / s`` over a cone, and Dinkelbach's iteration minimises
    ``1 + mean |u| - lam * s`` with ``lam`` the last ratio: every LP has box bounds only, and the
    ratio converges superlinearly to the exact optimum.
    """

    summary = "largest absolute change plus mean absolute change (Dinkelbach over box LPs)"
    max_iterations = 30
    tolerance = 1e-9

    def _solve(self, rows, backend, column_bound, time_limit):
        A = self._matrix(rows)
        n = A.shape[1]
        s_lower = 1.0 / column_bound if column_bound else 0.0
        matrix = sp.hstack([A, -A, sp.csr_matrix(-rows.rhs[:, None])], format="csr")
        bounds = (np.zeros(2 * n + 1), np.concatenate([np.ones(2 * n), [1e12]]))
        bounds[0][-1] = s_lower
        linf = LinfNorm()._solve(rows, backend, column_bound, time_limit)
        if linf.whitened_change is None:
            return linf
        results = [linf.result]
        u = linf.whitened_change.ravel() / linf.result.objective  # |u| <= 1, s = 1 / objective
        best = (linf.result.objective + np.abs(linf.whitened_change).mean(),
                linf.whitened_change.ravel())
        ratio = (1 + np.abs(u).mean()) * linf.result.objective
        for _ in range(self.max_iterations):
            lp = LinearProgram(np.concatenate([np.full(2 * n, 1.0 / n), [-ratio]]), matrix,
                               np.zeros(rows.num_rows), np.full(rows.num_rows, np.inf), *bounds,
                               name="repair_linf_l1_step", meta={"method_hint": "ipm"})
            result = backend.solve(lp, time_limit=_remaining(time_limit, results))
            results.append(result)
            if not result.ok:
                return NormSolution(None, _merged(results, result.status, result.message))
            scale = result.x[-1]
            if scale <= 1e-12:
                break
            v = (result.x[:n] - result.x[n:2 * n]) / scale
            value = np.abs(v).max() + np.abs(v).mean()
            if value < best[0]:
                best = (value, v)
            step = 1.0 + result.objective  # F(ratio) = 1 + mean|u| - ratio * s <= 0
            ratio = (1.0 + np.abs(result.x[:n] - result.x[n:2 * n]).mean()) / scale
            if step > -self.tolerance * max(1.0, ratio):
                break
        merged = _merged(results, SolveStatus.OPTIMAL, "")
        merged.objective = float(best[0])
        merged.x = best[1]
        return NormSolution(best[1].reshape(rows.num_neurons, rows.width), merged)


def _remaining(time_limit: float | None, results: list[SolveResult]) -> float | None:
    if time_limit is None:
        return None
    return max(time_limit - sum(r.build_seconds + r.solve_seconds for r in results), 1e-3)


def _merged(results: list[SolveResult], status: SolveStatus, message: str) -> SolveResult:
    """One result for several solves: times and iterations add up; sizes are the last LP's."""
    last = results[-1]
    iterations: dict[str, int] = {}
    for result in results:
        for key, value in result.iterations.items():
            iterations[key] = iterations.get(key, 0) + value
    return SolveResult(last.solver, status, build_seconds=sum(r.build_seconds for r in results),
                       solve_seconds=sum(r.solve_seconds for r in results),
                       iterations=iterations, message=message or f"{len(results)} LPs",
                       num_cols=last.num_cols, num_rows=last.num_rows,
                       num_nonzeros=last.num_nonzeros)


def make_norm(name: str) -> Norm:
    """A new norm registered as ``name``."""
    if name not in NORMS:
        raise SytorchError(f"unknown norm {name!r}; use one of {', '.join(NORMS)}")
    return NORMS[name]()
