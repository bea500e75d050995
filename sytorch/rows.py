"""Linear constraints on a symbolic Linear layer's change, kept as matrices.

Let the symbolic layer have K symbolic output neurons and input ``h`` of width d, with the bias
folded in as a constant 1: ``f = [h, 1]`` of width p = d + 1. Its change is a matrix ``D`` of
shape (K, p) (row k: the change of neuron k's weights and bias), and the change of neuron k's
output on an input is ``f . D[k]``. Everything downstream of the layer (with ReLU patterns held
fixed) is linear in those K output changes, so *every* constraint of a repair has the form

    sum_k coef[r, k] * (f_r . D[k])  >=  rhs[r]

where ``f_r`` is the layer input of the image that row r speaks of, or a unit vector for a
bound on one parameter. A :class:`RowBlock` stores exactly that: a (R, K) coefficient matrix, an
index into a feature table, and a right-hand side. Nothing is expanded to the full K*p
variables until a back end needs it, and for the quadratic objective it never is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RowBlock:
    """Rows ``sum_k coef[r, k] * (f_r . D[k]) >= rhs[r]`` of one kind.

    ``features`` is the (S, p) table the rows index with ``source``; when it is None the rows
    are unit rows: ``f_r`` is the unit vector ``e_{source[r]}`` (a bound on one parameter).
    ``sample`` names the image each row belongs to (for reports), -1 for unit rows.
    """

    kind: str
    coef: np.ndarray
    source: np.ndarray
    rhs: np.ndarray
    features: np.ndarray | None
    sample: np.ndarray

    def __post_init__(self) -> None:
        self.coef = np.asarray(self.coef, dtype=np.float64)
        if self.coef.ndim != 2 or len(self.coef) != len(self.rhs):
            raise ValueError(f"coef must be (R, K) with R = {len(self.rhs)}, got {self.coef.shape}")
        self.source = np.asarray(self.source, dtype=np.int64)
        self.rhs = np.asarray(self.rhs, dtype=np.float64)
        self.sample = np.asarray(self.sample, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rhs)

    @property
    def is_unit(self) -> bool:
        return self.features is None

    def values(self, change: np.ndarray) -> np.ndarray:
        """Left-hand sides at a change ``D`` (K, p)."""
        if len(self) == 0:
            return np.zeros(0)
        if self.features is None:
            per_neuron = change.T[self.source]  # (R, K): D[k, source[r]]
        else:
            used, inverse = np.unique(self.source, return_inverse=True)
            per_neuron = (self.features[used] @ change.T)[inverse]
        return np.einsum("rk,rk->r", self.coef, per_neuron)

    def slack(self, change: np.ndarray) -> np.ndarray:
        return self.values(change) - self.rhs

    def take(self, rows: np.ndarray) -> RowBlock:
        return RowBlock(self.kind, self.coef[rows], self.source[rows], self.rhs[rows],
                        self.features, self.sample[rows])

    @staticmethod
    def empty(kind: str, num_neurons: int, features: np.ndarray | None = None) -> RowBlock:
        return RowBlock(kind, np.zeros((0, num_neurons)), np.zeros(0, dtype=np.int64),
                        np.zeros(0), features, np.zeros(0, dtype=np.int64))


def concat_blocks(blocks: list[RowBlock]) -> RowBlock:
    """Blocks of the same kind and feature table, as one."""
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        raise ValueError("nothing to concatenate")
    first = blocks[0]
    return RowBlock(first.kind, np.concatenate([b.coef for b in blocks]),
                    np.concatenate([b.source for b in blocks]),
                    np.concatenate([b.rhs for b in blocks]), first.features,
                    np.concatenate([b.sample for b in blocks]))


class RowCandidates:
    """All rows of one kind; hands out the ones a change violates, each at most once."""

    def __init__(self, block: RowBlock):
        self.block = block
        self.active = np.zeros(len(block), dtype=bool)

    @property
    def kind(self) -> str:
        return self.block.kind

    def __len__(self) -> int:
        return len(self.block)

    def violated(self, change: np.ndarray, tolerance: float) -> RowBlock:
        """Inactive rows whose slack at ``change`` is below ``-tolerance``; they become active."""
        if len(self.block) == 0:
            return self.block
        scale = np.maximum(1.0, np.abs(self.block.rhs))
        rows = np.flatnonzero(~self.active & (self.block.slack(change) < -tolerance * scale))
        self.active[rows] = True
        return self.block.take(rows)

    def worst_slack(self, change: np.ndarray) -> float:
        return float(self.block.slack(change).min()) if len(self.block) else float("inf")


class BoundCandidates:
    """``|D[k, j]| <= bound`` as lazily generated unit rows (too many to list up front)."""

    kind = "bound"

    def __init__(self, num_neurons: int, width: int, bound: float):
        self.num_neurons, self.width, self.bound = num_neurons, width, float(bound)
        self.active: set[tuple[int, int, int]] = set()

    def __len__(self) -> int:
        return 2 * self.num_neurons * self.width

    def violated(self, change: np.ndarray, tolerance: float) -> RowBlock:
        limit = self.bound * (1 + tolerance)
        ks, js = np.nonzero(np.abs(change) > limit)
        signs = -np.sign(change[ks, js])  # a too-large positive entry needs -D >= -bound
        fresh = [(k, j, s) for k, j, s in zip(ks.tolist(), js.tolist(), signs.tolist(),
                                               strict=True) if (k, j, s) not in self.active]
        self.active.update(fresh)
        coef = np.zeros((len(fresh), self.num_neurons))
        for r, (k, _, s) in enumerate(fresh):
            coef[r, k] = s
        return RowBlock("bound", coef, [j for _, j, _ in fresh], np.full(len(fresh), -self.bound),
                        None, np.full(len(fresh), -1))

    def worst_slack(self, change: np.ndarray) -> float:
        return float(self.bound - np.abs(change).max()) if change.size else float("inf")
