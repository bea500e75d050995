"""Solve with rows added as they are needed (a cutting-plane loop).

A repair has few rows that matter and many that could: every ReLU pattern of every image, nine
label rows for each kept training image, a bound on each of tens of thousands of parameters.
The loop solves with the rows violated at "no change", then checks *every* candidate row at the
solution, adds those it breaks, and solves again. It stops when no row is broken, so the final
change satisfies all of them; rows are never dropped, so it cannot cycle.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from sytorch.errors import SytorchError
from sytorch.geometry import Geometry, ParameterGeometry
from sytorch.norms import MAX_LP_NONZEROS, LinfNorm, Norm, WhitenedRows
from sytorch.rows import BoundCandidates, RowBlock, RowCandidates
from sytorch.solvers.base import SolverBackend, SolveResult, SolveStatus

log = logging.getLogger(__name__)

Candidates = RowCandidates | BoundCandidates


@dataclass
class RoundRecord:
    round: int
    active_rows: int
    added: dict[str, int]
    solve: dict
    seconds: float


@dataclass
class LazySolution:
    status: SolveStatus
    change: np.ndarray | None  # (K, p) raw parameter change
    results: list[SolveResult] = field(default_factory=list)
    rounds: list[RoundRecord] = field(default_factory=list)
    message: str = ""
    active_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def build_seconds(self) -> float:
        return sum(r.build_seconds for r in self.results)

    @property
    def solve_seconds(self) -> float:
        return sum(r.solve_seconds for r in self.results)

    def iterations(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for result in self.results:
            for key, value in result.iterations.items():
                total[key] = total.get(key, 0) + value
        return total


def solve_lazily(candidates: list[Candidates], norm: Norm, geometry: Geometry,
                 backend: SolverBackend, *, num_neurons: int, width: int,
                 column_bound: float | None = None, param_bound: float | None = None,
                 time_limit: float | None = None, tolerance: float = 1e-7,
                 max_rounds: int = 30, max_rows: int | None = None) -> LazySolution:
    """Minimise ``norm`` of the change subject to all ``candidates`` rows (see module doc).

    ``column_bound`` is handed to the norm (a box on its variables: parameter geometry, LP
    norms); ``param_bound`` is the raw bound however it is enforced, used to tell an infeasible
    repair from a solver that lost its way. ``max_rows``: a round that would solve more active
    rows (pattern rows aside: :func:`_coupled_rows`) stops the repair with
    :class:`TooManyRows`, before the problem is built.
    """
    started = time.perf_counter()
    change = np.zeros((num_neurons, width))
    active: list[RowBlock] = []
    solution = LazySolution(SolveStatus.OPTIMAL, change)
    for round_number in range(1, max_rounds + 1):
        added = {}
        for candidate in candidates:
            fresh = candidate.violated(change, tolerance)
            if len(fresh):
                active.append(fresh)
                added[candidate.kind] = added.get(candidate.kind, 0) + len(fresh)
        if not added:
            solution.change = change
            solution.active_by_kind = _count(active)
            return solution
        if max_rows is not None and _coupled_rows(active) > max_rows:
            raise TooManyRows(_count(active), added, max_rows, change, param_bound)
        remaining = None
        if time_limit is not None:
            remaining = time_limit - (time.perf_counter() - started)
            if remaining <= 0:
                return _stop(solution, SolveStatus.TIME_LIMIT, "time limit reached between rounds",
                             active)
        round_started = time.perf_counter()
        rows = WhitenedRows.build(active, geometry, width)
        log.info("round %d: %d active rows (%s added)", round_number, rows.num_rows,
                 ", ".join(f"{n} {kind}" for kind, n in added.items()))
        outcome = norm.solve(rows, backend, column_bound=column_bound, time_limit=remaining)
        result = outcome.result
        solution.results.append(result)
        solution.rounds.append(RoundRecord(round_number, rows.num_rows, added, result.summary(),
                                           time.perf_counter() - round_started))
        if result.status == SolveStatus.ERROR and param_bound is not None:
            result = _settle_feasibility(active, width, param_bound, backend, result)
        if result.status != SolveStatus.OPTIMAL or outcome.whitened_change is None:
            return _stop(solution, result.status, result.message, active)
        change = geometry.unwhiten(outcome.whitened_change)
    return _stop(solution, SolveStatus.ITERATION_LIMIT,
                 f"rows were still being added after {max_rounds} rounds", active)


class TooManyRows(SytorchError):
    """The next round's QP would be larger than allowed; the message says which rows grew.

    The measured case (docs/repair-measurements.md, "Weak model"): a 37% model, 1,000 images,
    margin 2. The first round's change is ~9x the parameter bound, 15,044 parameters break it,
    and the second round's dual QP would hold 21,472 rows (15,044 of them bound rows) with a
    fifth of its Hessian non-zero: 11 GB and over 20 minutes. The cure is the bound, not the
    solver, so the message names it.
    """

    def __init__(self, active: dict[str, int], added: dict[str, int], max_rows: int,
                 change: np.ndarray, param_bound: float | None):
        self.active, self.added, self.max_rows = active, added, max_rows
        total = sum(active.values())
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(active.items(),
                                                                 key=lambda kv: -kv[1]))
        message = f"the next solve would have {total:,} rows ({kinds}; limit --max-qp-rows " \
                  f"{max_rows:,})"
        bound_rows = active.get("bound", 0)
        if param_bound is not None and bound_rows > total / 3:
            largest = float(np.abs(change).max()) if change.size else 0.0
            message += (f": --param-bound {param_bound:g} binds on {bound_rows:,} parameters (the "
                        f"last change reached {largest:.3g}); pass --param-bound 0 or one above "
                        f"{largest:.3g}, a smaller --margin or fewer images")
        else:
            message += "; use a smaller --margin, fewer images or fewer --neurons"
        super().__init__(message)


BLOCK_SPARSE_KINDS = frozenset({"pattern", "keep_pattern"})


def _coupled_rows(active: list[RowBlock]) -> int:
    """Active rows that make the dual Hessian dense. A hidden layer's pattern rows each speak of
    one neuron and share no coefficient with other neurons' rows, so they only add sparse
    blocks (``sytorch.norms._dual_hessian``) and are not counted against ``max_rows``."""
    return sum(len(block) for block in active if block.kind not in BLOCK_SPARSE_KINDS)


def _settle_feasibility(active: list[RowBlock], width: int, bound: float,
                        backend: SolverBackend, failed: SolveResult) -> SolveResult:
    """A failed solve under a parameter bound: is there any change within the bound at all?

    The question is asked in raw parameter coordinates, where the bound is a plain box and the
    LP is well conditioned; the rows are the active ones (a subset of all), so "infeasible" here
    is final for the whole repair.
    """
    data_rows = [block for block in active if not block.is_unit]
    rows = WhitenedRows.build(data_rows, ParameterGeometry(), width)
    if rows.estimated_nonzeros() > MAX_LP_NONZEROS:
        return failed  # too large to settle here; the solver's failure stands as reported
    check = LinfNorm().solve(rows, backend, column_bound=bound).result
    if check.status == SolveStatus.INFEASIBLE:
        failed.status = SolveStatus.INFEASIBLE
        failed.message = f"no change within --param-bound {bound:g} meets the active rows"
    return failed


def _count(active: list[RowBlock]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for block in active:
        counts[block.kind] = counts.get(block.kind, 0) + len(block)
    return counts


def _stop(solution: LazySolution, status: SolveStatus, message: str,
          active: list[RowBlock]) -> LazySolution:
    solution.status, solution.message, solution.change = status, message, None
    solution.active_by_kind = _count(active)
    return solution
