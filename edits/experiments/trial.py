"""One configuration in, one row out: :func:`run_trial`.

A trial makes (or reuses) its edit set, repairs, evaluates before and after, saves the
repaired checkpoint, and returns the row as a dict keyed by :data:`~.columns.COLUMNS`. It is a
top-level function of a picklable argument, so a process pool or a remote worker can call it;
the model and the data splits are loaded once per process (:func:`load_workspace`) and reused
by every later trial of that process.

What can go wrong with *this configuration* (too few images, an infeasible program, a time
limit, a solver error, a bad layer name) comes back as a row with ``repair_successful=False``
and an ``error_message``. What makes *every* configuration fail (the weights or the data cannot
be read) raises :class:`WorkspaceError`, so a sweep stops at once instead of writing a column
of identical failures that a resume would then skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edits.experiments.columns import COLUMNS
from edits.experiments.grid import TrialConfig, set_focus
from edits.job import JobResult, run_repair_job
from edits.layer_choice import choose_layer
from editset_helpers.corrupted import Shift, generate_shift_edit_set, shifted_source
from editset_helpers.generation import Source, generate_edit_set
from editset_helpers.io import (
    EditSet,
    edit_set_paths,
    load_edit_set,
    metadata_path_for,
    standard_edit_set_name,
)
from helpers.cache import source_fingerprint
from helpers.datasets import ImageSplit, load_split
from helpers.devices import resolve_device
from helpers.errors import UserError

log = logging.getLogger(__name__)

Row = dict[str, Any]


class WorkspaceError(UserError):
    """The model or the data cannot be loaded: no configuration of the sweep can run."""


@dataclass
class Workspace:
    """What every trial of one model shares: the model, both splits, and test predictions."""

    source: Source
    train_split: ImageSplit
    fingerprint: str  # of the weights file and the test split: names the edit-set folder
    # Reference second moments kept in memory instead of the on-disk cache (which is keyed by
    # the weights file): set where that file does not exist, on a remote worker.
    moment_cache: dict[Any, Any] | None = None


@functools.lru_cache(maxsize=2)
def load_workspace(weights: str, dataset: str, data_root: str, device: str = "auto",
                   label_overrides: str | None = None, exclude_flagged: str | None = None
                   ) -> Workspace:
    """Load once per process; later trials with the same model get the same objects.

    The cached model is never changed: the engine repairs a deep copy. ``label_overrides``
    corrects both splits' labels; ``exclude_flagged`` keeps flagged test images out of every
    edit set (and names another edit-set folder, so sets made without it are not reused).
    """
    try:
        source = Source.load(weights, dataset=dataset, split="test", data_root=data_root,
                             device=resolve_device(device), label_overrides=label_overrides,
                             exclude_flagged=exclude_flagged)
        train_split = load_split(dataset, "train", data_root=data_root,
                                 label_overrides=label_overrides)
    except UserError as error:
        raise WorkspaceError(str(error)) from None
    # Overrides change the labels, hence the content digest; exclusions enter only when given,
    # so the folders of earlier sweeps keep their names.
    extra = (source.exclusion["sha256"],) if source.exclusion else ()
    fingerprint = source_fingerprint([Path(weights)], "experiment-edit-sets-v1", dataset,
                                     source.split.content_digest(), *extra)
    return Workspace(source, train_split, fingerprint)


def workspace_of(config: TrialConfig, device: str | None = None) -> Workspace:
    """The workspace a configuration runs in (``device`` overrides the configuration's)."""
    return load_workspace(config.weights, config.dataset, config.data_root,
                          device or config.device, config.label_overrides,
                          config.exclude_flagged)


@functools.lru_cache(maxsize=4)
def load_shifted(weights: str, dataset: str, data_root: str, corruption: str, severity: int,
                 label_overrides: str | None = None, exclude_flagged: str | None = None
                 ) -> Source:
    """The workspace's model on the corrupted test split, once per process and shift."""
    workspace = load_workspace(weights, dataset, data_root, "auto", label_overrides,
                               exclude_flagged)
    return shifted_source(workspace.source, Shift(corruption, severity))


def run_trial(config: TrialConfig) -> Row:
    """Run one configuration of a sweep and return its CSV row (see the module docstring)."""
    workspace = workspace_of(config)
    row, edit_set = prepare_trial(config, workspace)
    if edit_set is None:
        return row
    row, _ = repair_trial(config, workspace, row, edit_set,
                          output=repaired_model_file(config, workspace))
    return row


def prepare_trial(config: TrialConfig, workspace: Workspace) -> tuple[Row, EditSet | None]:
    """The row's identity, the resolved layer and the edit set (made or reused on disk).

    ``None`` for the edit set means the row is already final: a failure found before any
    repair (no image meets the criterion, too few for strict sizing, a bad layer name).
    """
    row = _identity_row(config)
    row["baseline_accuracy_test_set"] = workspace.source.predictions.accuracy
    try:
        # The resolved name (classifier.6, not "last") in every row, repaired or not.
        row["layer"] = choose_layer(workspace.source.loaded.model, config.layer)
        edit_set = obtain_edit_set(config, workspace)
    except UserError as error:  # this configuration cannot be repaired as asked
        return _failed(row, "error", str(error)), None
    row["actual_repair_set_size"] = 0 if edit_set is None else len(edit_set)
    if edit_set is None:
        return _failed(row, "empty_edit_set", f"no image of {workspace.source.split.dataset}"
                       f"/test meets the criterion of {config.set_label}"), None
    row["edit_set_path"] = str(edit_set.path)
    if config.sizing == "strict" and len(edit_set) < config.requested_size:
        return _failed(row, "size_shortfall",
                       f"only {len(edit_set)} images meet the criterion but "
                       f"{config.requested_size} were requested (strict sizing)"), None
    return row, edit_set


def repair_trial(config: TrialConfig, workspace: Workspace, row: Row, edit_set: EditSet, *,
                 output: Path | None) -> tuple[Row, JobResult | None]:
    """Repair, evaluate before and after, and finish ``row``; save the model to ``output``.

    Reads no file when ``output`` is None and the workspace carries its own reference cache
    (:attr:`Workspace.moment_cache`): a remote worker runs exactly this.
    """
    try:
        job = run_repair_job(workspace.source.loaded, edit_set, config.repair_config(),
                             test_split=workspace.source.split,
                             train_split=workspace.train_split,
                             output=output,
                             # The file is named by the experiment id in the sweep's own
                             # folder: an existing one is a leftover of this very row from a
                             # run killed before the row was written, so it is replaced.
                             force=True,
                             base_test_predictions=workspace.source.predictions.predicted,
                             moment_cache=workspace.moment_cache)
    except UserError as error:  # this configuration cannot be repaired as asked
        return _failed(row, "error", str(error)), None
    return _finished(row, job), job


def edit_set_file(config: TrialConfig, workspace: Workspace) -> Path:
    """``<edit_sets_dir>/<model>-<fingerprint>/<standard name>_n<size>_seed<seed>_edit_dataset.pt``.

    Deterministic, so every trial (and every re-run) with the same set reuses one file; the
    folder changes with the weights file and the test data, so a retrained model never reuses
    another model's sets. Flexible and strict sizing share the file: it holds what exists, up
    to the size, and strict sizing then judges it.
    """
    class_names = workspace.source.split.class_names
    target = config.target_class
    stem = standard_edit_set_name(config.repair_set_type, target_class=target,
                                  class_name=class_names[target] if target is not None else None)
    if config.corruption is not None:  # a shift's sets are other images: another name
        stem = f"{stem}_{config.corruption}{config.severity}"
    folder = Path(config.edit_sets_dir) / f"{Path(config.weights).stem}-{workspace.fingerprint}"
    return edit_set_paths(folder, f"{stem}_n{config.requested_size}_seed{config.seed}")[0]


def repaired_model_file(config: TrialConfig, workspace: Workspace) -> Path | None:
    if config.models_dir is None:
        return None
    stem = edit_set_file(config, workspace).name.removesuffix("_edit_dataset.pt")
    return Path(config.models_dir) / f"{stem}_{config.experiment_id}.pth"


def obtain_edit_set(config: TrialConfig, workspace: Workspace) -> EditSet | None:
    """Load the configuration's edit set, making it first if no trial has yet.

    Trials of one set run in parallel (the same set under several bounds or margins), so the
    check-then-make step holds an exclusive lock on the folder's ``.generation.lock``: one
    process writes, the others wait and read. ``None`` when no image meets the criterion.
    """
    path = edit_set_file(config, workspace)
    parameters = {} if config.target_class is None else {"target_class": config.target_class}
    with _locked(path.parent / ".generation.lock"):
        if path.exists():
            edit_set = load_edit_set(path)
            _check_reused(edit_set, config)
            return edit_set
        # The metadata JSON is written before the .pt; a sweep killed between the two leaves a
        # lone JSON under this sweep-owned name, which must not block the set being made again.
        orphan = metadata_path_for(path)
        if orphan.exists():
            log.info("%s has no .pt beside it (an interrupted trial); making the set again",
                     orphan)
        if config.corruption is not None:
            shifted = load_shifted(config.weights, config.dataset, config.data_root,
                                   config.corruption, config.severity, config.label_overrides,
                                   config.exclude_flagged)
            result = generate_shift_edit_set(
                workspace.source, config.repair_set_type, path,
                Shift(config.corruption, config.severity, halves_seed=config.seed),
                parameters=parameters, max_samples=config.requested_size, seed=config.seed,
                force=orphan.exists(), shifted=shifted)
        else:
            result = generate_edit_set(workspace.source, config.repair_set_type, path,
                                       parameters=parameters, max_samples=config.requested_size,
                                       seed=config.seed, force=orphan.exists())
    return result.edit_set


def _check_reused(edit_set: EditSet, config: TrialConfig) -> None:
    """A file under a deterministic name that says it is something else is not used."""
    recorded = edit_set.info.get("type")
    if recorded is not None and recorded != config.repair_set_type:
        raise UserError(f"{edit_set.path} holds a {recorded} set, not {config.repair_set_type};"
                        " move it away so it can be made again")
    if len(edit_set) > config.requested_size:
        raise UserError(f"{edit_set.path} holds {len(edit_set)} images, more than the "
                        f"{config.requested_size} its name promises; move it away")


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _identity_row(config: TrialConfig) -> Row:
    row: Row = dict.fromkeys(COLUMNS)
    row.update(
        experiment_id=config.experiment_id,
        repair_set_type=config.repair_set_type,
        repair_set_focus=set_focus(config.repair_set_type),
        requested_repair_set_size=config.requested_size,
        edit_set_sizing_strategy=config.sizing,
        target_class=config.target_class,
        param_bound=config.param_bound,
        margin=config.margin,
        baseline_model_path=config.weights,
        repair_successful=False,
        layer=config.layer,
        norm=config.norm,
        geometry=config.geometry,
        keep_set=config.keep_set,
        reference_size=config.reference_size,
        seed=config.seed,
        time_limit_seconds=config.time_limit,
        dataset=config.dataset,
        corruption=config.corruption,
        severity=config.severity,
    )
    return row


def _stamp(row: Row) -> Row:
    row["timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    return row


def _failed(row: Row, status: str, message: str) -> Row:
    row.update(repair_status=status, error_message=message, repair_successful=False)
    return _stamp(row)


def _finished(row: Row, job: JobResult) -> Row:
    result = job.repair
    summary = result.solver_summary()
    iterations: dict[str, int] = summary.get("iterations") or {}
    solver = summary.get("solver")
    after = job.after
    row.update(
        baseline_accuracy_edit_set=job.before.edit,
        baseline_accuracy_drawdown_set=job.before.drawdown,
        repair_runtime_seconds=result.timings.get("total"),
        gurobi_barrier_iterations=iterations.get("barrier") if solver == "gurobi" else None,
        repair_successful=result.verified,
        repaired_model_path=str(job.output) if result.verified and job.output else None,
        repaired_accuracy_test_set=after.test if after else None,
        repaired_accuracy_edit_set=after.edit if after else None,
        repaired_accuracy_drawdown_set=after.drawdown if after else None,
        error_message=None if result.verified else result.message,
        solver=solver,
        solver_status=summary.get("status"),
        solver_iterations=sum(iterations.values()) if iterations else None,
        lp_build_seconds=summary.get("build_seconds"),
        lp_solve_seconds=summary.get("solve_seconds"),
        layer=result.layer,
        delta_linf=result.change_stats.get("linf"),
        delta_l1=result.change_stats.get("l1"),
        drawdown=job.drawdown_points,
        repair_status=result.status,
        reference_seconds=result.timings.get("reference"),
    )
    shift = job.generalisation
    if shift is not None:
        row.update(generalisation_set_size=shift.before.count,
                   baseline_accuracy_generalisation_set=shift.before.accuracy,
                   repaired_accuracy_generalisation_set=(shift.after.accuracy if shift.after
                                                         else None),
                   generalisation_gain=shift.gain_points)
    return _stamp(row)
