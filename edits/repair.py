"""One repair: symbolic layer -> rows -> lazy solve -> apply -> verify by a forward pass.

:func:`repair` works on an in-memory model and edit images so a notebook, the CLI and the
experiment runner share it; loading files, evaluating on the test set and writing outputs live
in :mod:`edits.job`.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edits.config import RepairConfig
from edits.layer_choice import choose_layer, choose_neurons
from edits.reference import build_reference
from edits.verification import Verification, verify
from helpers.datasets import ImageSplit
from helpers.devices import model_device
from helpers.errors import UserError
from sytorch.constraints import label_rows, margins
from sytorch.errors import SytorchError
from sytorch.forward import symbolic_forward
from sytorch.geometry import Geometry, OutputGeometry, ParameterGeometry
from sytorch.lazy import LazySolution, solve_lazily
from sytorch.norms import L2Norm, make_norm
from sytorch.rows import BoundCandidates, RowCandidates
from sytorch.solvers import make_backend
from sytorch.solvers.base import SolveStatus
from sytorch.symbolic import SymbolicLinear

log = logging.getLogger(__name__)

HINT = ("try a larger --param-bound, a smaller --margin, fewer images, more --neurons or "
        "another --layer")


@dataclass
class RepairResult:
    """What happened, the repaired model if any, and the numbers a report needs."""

    status: str  # repaired | not_verified | infeasible | time_limit | iteration_limit | error
    message: str
    config: RepairConfig
    layer: str
    neurons: list[int] | None
    num_variables: int
    model: nn.Module | None = None
    change: np.ndarray | None = None
    solution: LazySolution | None = None
    verification: Verification | None = None
    keep_verification: Verification | None = None
    timings: dict[str, float] = field(default_factory=dict)
    change_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.status == "repaired"

    def solver_summary(self) -> dict[str, Any]:
        solution = self.solution
        if solution is None:
            return {}
        last = solution.results[-1] if solution.results else None
        return {
            "solver": last.solver if last else "none",
            "status": str(solution.status),
            "message": solution.message or (last.message if last else ""),
            "rounds": len(solution.rounds),
            "active_rows": solution.active_by_kind,
            "build_seconds": solution.build_seconds,
            "solve_seconds": solution.solve_seconds,
            "iterations": solution.iterations(),
            "objective": last.objective if last else 0.0,
            "round_details": [vars(r) for r in solution.rounds],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "verified": self.verified, "message": self.message,
            "config": self.config.to_dict(), "layer": self.layer,
            "neurons": self.neurons, "num_variables": self.num_variables,
            "solver": self.solver_summary(),
            "verification": self.verification.to_dict() if self.verification else None,
            "keep_set_verification": (self.keep_verification.to_dict()
                                      if self.keep_verification else None),
            "change": self.change_stats, "timings_seconds": self.timings,
        }


def repair(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: RepairConfig,
           *, train_split: ImageSplit | None = None, model_path: Path | None = None,
           moment_cache: dict[Any, Any] | None = None) -> RepairResult:
    """Find the smallest change (in ``config.norm`` and ``config.geometry``) of one Linear
    layer that classifies every image correctly by ``config.margin``, and verify it.

    ``images`` are float (N, C, H, W) in [0, 1]; ``labels`` (N,) the classes they must get.
    ``train_split`` supplies the reference sample and the keep set. The reference's second
    moment is cached on disk by content (the layers below the repaired one, the pixels, the
    sample), or in ``moment_cache`` when one is given. The symbolic layer and the solvers work on
    the CPU, so a model on a GPU is repaired as a CPU copy. sytorch's own
    :class:`~sytorch.errors.SytorchError` becomes a :class:`UserError` here, at the boundary.
    """
    if model_device(model).type != "cpu":
        model = copy.deepcopy(model).cpu()
    try:
        return _repair(model, images.cpu(), labels.cpu(), config, train_split=train_split,
                       model_path=model_path, moment_cache=moment_cache)
    except SytorchError as error:
        raise UserError(str(error)) from None


def _repair(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: RepairConfig,
            *, train_split: ImageSplit | None, model_path: Path | None,
            moment_cache: dict[Any, Any] | None) -> RepairResult:
    config = config.resolved().validate()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    model.eval()
    layer_name = choose_layer(model, config.layer)
    neuron_ids = choose_neurons(model, layer_name, config.neurons, images)
    symbolic = SymbolicLinear.mark(model, layer_name, neuron_ids, probe=images[:2])
    log.info("symbolic layer %s: %d neurons x %d inputs = %d variables", layer_name,
             len(symbolic.neurons), symbolic.width, symbolic.num_variables)
    labels_np = labels.numpy().astype(np.int64)

    mark = time.perf_counter()
    batch = symbolic_forward(model, symbolic.split, symbolic.neurons, images,
                             progress="symbolic forward")
    _check_classes(batch.logits.shape[1], labels_np)
    timings["symbolic_forward"] = time.perf_counter() - mark

    needs_reference = config.geometry == "outputs" or config.keep_set > 0
    if needs_reference and train_split is None:
        raise UserError("the outputs geometry and --keep-set need the training split")
    mark = time.perf_counter()
    reference = None
    if needs_reference:
        reference = build_reference(model, symbolic, train_split,
                                    reference_size=config.reference_size,
                                    keep_size=config.keep_set, seed=config.seed,
                                    moment_cache=moment_cache,
                                    need_moment=config.geometry == "outputs",
                                    keep_rule=config.keep_rule, edit_images=images,
                                    reference_augment=config.reference_augment,
                                    reference_neighbours=config.reference_neighbours)
    geometry: Geometry = (OutputGeometry(reference.second_moment, config.eps)
                          if config.geometry == "outputs" else ParameterGeometry())
    timings["reference"] = time.perf_counter() - mark

    candidates: list = [RowCandidates(label_rows(batch, labels_np,
                                                 config.margin + config.margin_slack)),
                        RowCandidates(batch.patterns)]
    if reference is not None and reference.keep_batch is not None:
        keep = reference.keep_batch
        gaps = margins(keep.logits, reference.keep_labels)
        candidates += [RowCandidates(label_rows(keep, reference.keep_labels,
                                                np.minimum(config.keep_margin, gaps), kind="keep")),
                       RowCandidates(_renamed(keep.patterns, "keep_pattern"))]
    norm = make_norm(config.norm)
    bound_as_columns = (config.param_bound is not None and geometry.is_identity
                        and not isinstance(norm, L2Norm))
    if config.param_bound is not None and not bound_as_columns:
        candidates.append(BoundCandidates(len(symbolic.neurons), symbolic.width,
                                          config.param_bound))

    mark = time.perf_counter()
    solution = solve_lazily(candidates, norm, geometry, make_backend(config.solver),
                            num_neurons=len(symbolic.neurons), width=symbolic.width,
                            column_bound=config.param_bound if bound_as_columns else None,
                            param_bound=config.param_bound,
                            time_limit=config.time_limit, max_rounds=config.max_rounds,
                            max_rows=config.max_qp_rows or None)
    timings["solve_total"] = time.perf_counter() - mark

    result = RepairResult("error", "", config, layer_name,
                          None if neuron_ids is None else symbolic.neurons.tolist(),
                          symbolic.num_variables, solution=solution, timings=timings)
    if solution.change is None:
        result.status, result.message = _failure(solution, config)
        timings["total"] = time.perf_counter() - started
        return result

    mark = time.perf_counter()
    change = solution.change
    if config.param_bound is not None:
        # The loop accepts a bound row as met within a relative 1e-7; clipping makes the bound
        # exact, and the forward pass below checks that the margins survived it.
        change = np.clip(change, -config.param_bound, config.param_bound)
    result.change = change
    result.model = symbolic.apply(model, change)
    result.verification = verify(result.model, images, labels, config.margin)
    if reference is not None and len(reference.keep_indices):
        keep_images = train_split.unit_images(reference.keep_indices)
        result.keep_verification = verify(result.model, keep_images,
                                          torch.as_tensor(reference.keep_labels))
    timings["verify"] = time.perf_counter() - mark
    result.change_stats = change_statistics(change, config, geometry, bound_as_columns)
    if result.verification.passed:
        result.status = "repaired"
        result.message = (f"repaired and verified: {result.verification.correct}/"
                          f"{result.verification.images} edit images right, smallest margin "
                          f"{result.verification.min_margin:.4f} (required {config.margin})")
    else:
        result.status = "not_verified"
        result.message = (f"the solver's change did not verify: {result.verification.correct}/"
                          f"{result.verification.images} right, smallest margin "
                          f"{result.verification.min_margin:.4g} (required {config.margin})")
    timings["total"] = time.perf_counter() - started
    return result


def change_statistics(change: np.ndarray, config: RepairConfig, geometry: Geometry,
                      bound_as_columns: bool) -> dict[str, Any]:
    magnitude = np.abs(change)
    stats: dict[str, Any] = {
        "linf": float(magnitude.max()) if change.size else 0.0,
        "l1": float(magnitude.sum()),
        "l2": float(np.sqrt((change * change).sum())),
        "mean_abs": float(magnitude.mean()) if change.size else 0.0,
        "changed_parameters": int((magnitude > 1e-9).sum()),
        "total_parameters": int(change.size),
        "param_bound": config.param_bound,
        "param_bound_enforced_as": (None if config.param_bound is None else
                                    "column bounds" if bound_as_columns else "lazy rows"),
    }
    if isinstance(geometry, OutputGeometry):
        stats["output_change_rms"] = geometry.output_change_rms(change)
    return stats


def _failure(solution: LazySolution, config: RepairConfig) -> tuple[str, str]:
    status = solution.status
    if status == SolveStatus.INFEASIBLE:
        return "infeasible", f"no change of this layer meets every row ({HINT})"
    if status == SolveStatus.TIME_LIMIT:
        faster = ("; --solver piqp solves the l2 objective's QP several times faster"
                  if config.solver == "highs" and config.norm == "l2" else "")
        return "time_limit", (f"the solver hit the time limit of {config.time_limit} s; raise "
                              f"--time-limit or use fewer images{faster}")
    if status == SolveStatus.ITERATION_LIMIT:
        return "iteration_limit", f"{solution.message}; {HINT}"
    other = "--solver piqp, " if config.solver != "piqp" and config.norm == "l2" else ""
    return "error", f"the solver failed ({solution.message}); try {other}{HINT[4:]}"


def _check_classes(num_classes: int, labels: np.ndarray) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(f"edit-set labels run {labels.min()}..{labels.max()} but the model has "
                        f"{num_classes} classes; is the edit set for this model?")


def _renamed(block, kind: str):
    block.kind = kind
    return block
