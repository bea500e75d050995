"""sytorch: symbolic PyTorch for provable repair of one Linear layer.

Mark a layer (or some of its neurons) symbolic, run the network symbolically over a batch to
get its logits as linear functions of the change (with ReLU patterns held fixed and the rows
that keep them), add the rows a repair needs, minimise a norm of the change with an LP/QP back
end, and write the change back. Expressions stay matrices throughout (:mod:`sytorch.rows`).
"""

from sytorch.constraints import label_rows, margins
from sytorch.forward import SymbolicBatch, symbolic_forward
from sytorch.geometry import GEOMETRIES, OutputGeometry, ParameterGeometry
from sytorch.lazy import LazySolution, solve_lazily
from sytorch.norms import NORMS, make_norm
from sytorch.rows import BoundCandidates, RowBlock, RowCandidates
from sytorch.solvers import SOLVERS, make_backend
from sytorch.symbolic import SymbolicLinear

__all__ = ["GEOMETRIES", "NORMS", "SOLVERS", "BoundCandidates", "LazySolution",
           "OutputGeometry", "ParameterGeometry", "RowBlock", "RowCandidates", "SymbolicBatch",
           "SymbolicLinear", "label_rows", "make_backend", "make_norm", "margins",
           "solve_lazily", "symbolic_forward"]
