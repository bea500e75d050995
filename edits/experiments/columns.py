"""The experiment CSV's columns, in order, and what each one holds (with its unit).

The first 22 columns are the ones existing analysis notebooks read by name, in their historical
order; the rest were added after them, so a notebook that selects columns by name keeps working.
Accuracies are **fractions in [0, 1]**; ``drawdown`` is in **percentage points**; times are
**seconds**. An empty cell means "does not apply" or "not reached" (for example the repaired
accuracies of a repair that found no change).
"""

from __future__ import annotations

COLUMN_DESCRIPTIONS: dict[str, str] = {
    # --- the historical columns, in their order
    "experiment_id": "16 hex digits: hash of the configuration (not of times or paths of "
                     "outputs), so a re-run recognises finished rows",
    "timestamp": "UTC time the row was finished (ISO 8601)",
    "repair_set_type": "edit-set selector: misclassified, class_homogeneous_incorrect, ...",
    "repair_set_focus": "incorrect_only (images the model gets wrong), correct_only (right), "
                        "confident_wrong (confidently wrong) or closest (almost right): the seed "
                        "runner's values",
    "requested_repair_set_size": "images asked for (--repair-set-sizes)",
    "edit_set_sizing_strategy": "flexible (take what exists, up to the size) or strict (fail "
                                "the row when fewer exist)",
    "actual_repair_set_size": "images in the edit set actually used (0 when none met the "
                              "criterion)",
    "edit_set_path": "the edit set's .pt file (made on first use, reused after)",
    "target_class": "class id for class_homogeneous_* sets; empty for the others",
    "param_bound": "largest allowed |change| of any parameter; empty = unbounded",
    "margin": "the label logit must beat every other logit by this much (logit units)",
    "baseline_model_path": "checkpoint that was repaired (--weights)",
    "baseline_accuracy_test_set": "fraction of the test split the base model gets right",
    "baseline_accuracy_edit_set": "fraction of the edit set the base model gets right",
    "repair_runtime_seconds": "wall time of the repair itself (layer choice, program, solve, "
                              "verification), seconds; excludes edit-set making and evaluation",
    "gurobi_barrier_iterations": "barrier iterations when Gurobi solved; empty otherwise",
    "repair_successful": "True when the repaired model was verified by a forward pass (every "
                         "edit image right by the margin)",
    "repaired_model_path": "the repaired checkpoint; empty when not verified or not saved",
    "repaired_accuracy_test_set": "fraction of the test split the repaired model gets right "
                                  "(also filled for a change that failed verification, "
                                  "repair_status not_verified)",
    "repaired_accuracy_edit_set": "fraction of the edit set the repaired model gets right",
    "repaired_accuracy_drawdown_set": "fraction of the drawdown set (test split minus the "
                                      "edit set's images) the repaired model gets right",
    "error_message": "why the row failed (infeasible, time limit, too few images, ...); empty "
                     "on success",
    # --- added after them
    "solver": "solver that answered last (highs, piqp or gurobi; auto resolves to one of them)",
    "solver_status": "the solver's last status: optimal, infeasible, time_limit, ...",
    "solver_iterations": "iterations over all rounds and kinds (HiGHS: simplex + ipm + qp + "
                         "crossover; Gurobi: simplex + barrier)",
    "lp_build_seconds": "seconds spent building the programs, all rounds",
    "lp_solve_seconds": "seconds spent in the solver, all rounds",
    "layer": "the layer that was changed (resolved name, e.g. classifier.6)",
    "norm": "norm of the change that was minimised (l1, l2, linf)",
    "delta_linf": "largest |change| of any parameter of the layer",
    "delta_l1": "sum of |change| over the layer's parameters",
    "baseline_accuracy_drawdown_set": "fraction of the drawdown set the base model gets right",
    "drawdown": "drawdown-set accuracy lost by the repair, percentage points (positive = worse)",
    "repair_status": "repaired, not_verified, infeasible, time_limit, iteration_limit, error "
                     "(engine), or empty_edit_set / size_shortfall (nothing to repair)",
    "reference_seconds": "part of repair_runtime_seconds spent on the reference sample (the "
                         "outputs geometry's second moment): computed by the first repair of a "
                         "model, layer and sample, then read from the cache",
    "geometry": "where the change was measured: outputs (layer outputs over training images) or "
                "parameters",
    "keep_set": "correctly classified training images whose labels had to stay right",
    "reference_size": "training images that define the outputs geometry",
    "seed": "seed of the edit-set subset and the reference sample",
    "time_limit_seconds": "solver time limit, seconds; empty = none",
    "dataset": "data set the edit set and the test split come from",
    # --- distribution shift (--corruption): empty for clean edit sets
    "corruption": "CIFAR-10-C corruption of the edit images (helpers/corruptions.py); empty: "
                  "clean images",
    "severity": "corruption severity, 1 (mild) to 5 (severe)",
    "generalisation_set_size": "held-out images of the same corruption (the half of the test "
                               "split no edit image comes from)",
    "baseline_accuracy_generalisation_set": "fraction of the generalisation set the base model "
                                            "gets right",
    "repaired_accuracy_generalisation_set": "fraction of the generalisation set the repaired "
                                            "model gets right",
    "generalisation_gain": "generalisation-set accuracy gained by the repair, percentage points "
                           "(positive = better)",
}

COLUMNS: tuple[str, ...] = tuple(COLUMN_DESCRIPTIONS)
LEGACY_COLUMNS: tuple[str, ...] = COLUMNS[:COLUMNS.index("error_message") + 1]
