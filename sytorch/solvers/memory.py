"""Say *before* solving when the ``l2`` objective's dual QP cannot fit in memory.

The dual has one variable per active row. For the last layer its Hessian is dense-ish (label
rows of one class all share that class's coefficients), so building it and factorising it
grows with the square of the rows: 5,755 rows (1,000 images, margin 2) are fine, 25,000 rows
are not on a 20 GB machine. Without a check the process would swap or be killed by the kernel
after minutes of work; with it the user gets one line with the size needed, the memory there
is and what would fit.

``ALEXNET_REPAIR_MEMORY_BYTES`` overrides the available memory (tests, or a user who wants to
leave room for other jobs).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from sytorch.errors import SytorchError

ENVIRONMENT_VARIABLE = "ALEXNET_REPAIR_MEMORY_BYTES"
# Bytes per stored Hessian entry while it is built (coefficient pattern, COO triplets, CSR,
# the row scaling's two products and the CSC copy) and per dense entry while PIQP factorises
# (our dense copy, its column-major copy, PIQP's own matrix and its Cholesky factor).
BUILD_BYTES_PER_ENTRY = 64
DENSE_BYTES_PER_ENTRY = 4 * 8
USABLE_FRACTION = 0.9  # leave the rest to the interpreter, the model and the page cache


class MemoryLimitError(SytorchError):
    """The problem as posed needs more memory than the machine has."""


def available_bytes() -> int | None:
    """Memory this process may still use: the override, else the smaller of the kernel's
    ``MemAvailable`` and the cgroup's remaining limit; ``None`` when neither can be read."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    if override:
        return int(override)
    candidates = [value for value in (_mem_available(), _cgroup_room()) if value is not None]
    return min(candidates) if candidates else None


def dual_qp_bytes(coef: np.ndarray, num_features: int, *, dense: bool) -> int:
    """Peak bytes to build and solve the dual QP of rows with coefficients ``coef`` (R, K).

    Hessian entries are counted as the pairs of rows that share a coefficient (an upper bound:
    a pair sharing two neurons counts twice); the Gram matrix of the ``num_features`` distinct
    feature vectors is dense; a dense solve adds :data:`DENSE_BYTES_PER_ENTRY` per entry of the
    full square.
    """
    rows = len(coef)
    per_neuron = np.count_nonzero(coef, axis=0).astype(np.float64)
    entries = min(float(rows) ** 2, float(per_neuron @ per_neuron))
    total = BUILD_BYTES_PER_ENTRY * entries + 8.0 * float(num_features) ** 2
    if dense:
        total += DENSE_BYTES_PER_ENTRY * float(rows) ** 2
    return int(total)


def require_dual_qp_memory(coef: np.ndarray, num_features: int) -> None:
    """Raise :class:`MemoryLimitError` (one line) when the dual QP cannot fit; else nothing.

    The dense path is assumed (the last layer's Hessian is a third full or more); when only the
    sparse path fits, the message says so, and the solver takes it by itself when the Hessian
    is sparse enough (hidden layers).
    """
    room = available_bytes()
    if room is None:
        return
    usable = USABLE_FRACTION * room
    needed = dual_qp_bytes(coef, num_features, dense=True)
    if needed <= usable:
        return
    rows = len(coef)
    sparse = dual_qp_bytes(coef, num_features, dense=False)
    fraction = math.sqrt(usable / needed)  # rows grow with images, memory with rows squared
    sparse_note = (f"; PIQP's sparse path needs {_gb(sparse)} (taken by itself when the "
                   "Hessian is sparse, as for hidden layers)" if sparse <= usable else "")
    raise MemoryLimitError(
        f"the l2 objective's dual QP has {rows:,} rows and needs about {_gb(needed)} of memory "
        f"(dense Hessian and its factorisation) but {_gb(room)} are available{sparse_note}; "
        f"repair fewer images (about {max(1, int(100 * fraction))}% of this edit set would "
        "fit), use a smaller --keep-set or fewer --neurons, or a smaller --margin (fewer "
        "active rows)")


def _gb(value: float) -> str:
    return f"{value / 1e9:.1f} GB"


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """cgroup v2: ``memory.max - memory.current``, or None without a limit."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None
