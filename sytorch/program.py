"""Solver-neutral optimisation problems: what a back end receives.

Matrices are ``scipy.sparse`` (CSR) and vectors NumPy arrays: never one Python object per
scalar. A problem is built once per solve and handed to any registered back end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class LinearProgram:
    """minimise ``cost @ x`` subject to ``row_lower <= A @ x <= row_upper`` and column bounds."""

    cost: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    name: str = "repair"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.cost)
        if self.A.shape[1] != n or len(self.col_lower) != n or len(self.col_upper) != n:
            raise ValueError("LinearProgram: column dimensions disagree")
        if not (len(self.row_lower) == len(self.row_upper) == self.A.shape[0]):
            raise ValueError("LinearProgram: row dimensions disagree")

    @property
    def num_cols(self) -> int:
        return len(self.cost)

    @property
    def num_rows(self) -> int:
        return self.A.shape[0]

    @property
    def num_nonzeros(self) -> int:
        return int(self.A.nnz)


@dataclass
class QuadraticProgram(LinearProgram):
    """A :class:`LinearProgram` plus ``1/2 x^T Q x`` in the objective (``Q`` symmetric PSD)."""

    Q: sp.csc_matrix | None = None
