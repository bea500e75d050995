"""Trials on workers that share no file system with the driver (executors with ``ships_inputs``).

The driver loads the model and the data once (:func:`~.trial.load_workspace`) and shares the
workspace through the executor (Ray's object store: put once, referenced by every task). It
makes or reuses each edit set on its own disk (:func:`~.trial.prepare_trial`) and sends the set
with the task. The worker repairs and evaluates in memory (:func:`compute_remote_trial`, the
same :func:`~.trial.repair_trial` the local runner calls) and returns the row and, for a
verified repair, the checkpoint's contents; the driver writes the model file and fills the
row's path. So only the driver writes the CSV, the edit sets and the models, and a worker never
opens the user's ``data/`` folder, the weights file or the edit-set folder.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from edits.experiments.executors import Executor, Outcome, Shared
from edits.experiments.grid import TrialConfig
from edits.experiments.trial import (
    Row,
    Workspace,
    prepare_trial,
    repair_trial,
    repaired_model_file,
)
from edits.experiments.trial import workspace_of as config_workspace
from edits.job import repaired_metadata
from editset_helpers.io import EditSet
from helpers.atomic_io import atomic_torch_save, check_writable
from model_classes.checkpoints import checkpoint_payload

log = logging.getLogger(__name__)

MiB = 1 << 20


@dataclass
class RemoteTrial:
    """What one task carries: the configuration, its row so far, its edit set, the shared
    workspace handle, and (driver only) where a verified model will be written."""

    config: TrialConfig
    row: Row
    edit_set: EditSet
    workspace: Shared[Workspace]
    model_file: str | None


@dataclass
class RemoteResult:
    """The finished row and, for a verified repair to be saved, the checkpoint's contents."""

    row: Row
    checkpoint: dict[str, Any] | None


def compute_remote_trial(trial: RemoteTrial) -> RemoteResult:
    """Runs on the worker: repair and evaluate in memory, write nothing."""
    workspace = trial.workspace.get()
    row, job = repair_trial(trial.config, workspace, dict(trial.row), trial.edit_set,
                            output=None)
    checkpoint = None
    if job is not None and job.repair.verified and trial.model_file is not None:
        checkpoint = checkpoint_payload(job.repair.model,
                                        repaired_metadata(workspace.source.loaded, job))
    return RemoteResult(row, checkpoint)


def finish_remote_trial(trial: RemoteTrial, result: RemoteResult) -> Row:
    """On the driver: write the returned model (atomically) and name it in the row."""
    row = result.row
    if result.checkpoint is not None and trial.model_file is not None:
        # Named by the experiment id: an existing file is this row's leftover from a killed run.
        path = check_writable(trial.model_file, force=True)
        atomic_torch_save(result.checkpoint, path)
        row["repaired_model_path"] = str(path)
    return row


def remote_outcomes(configs: Sequence[TrialConfig], executor: Executor, *,
                    compute: Callable[[RemoteTrial], RemoteResult] = compute_remote_trial
                    ) -> Iterator[Outcome[TrialConfig, Row]]:
    """Run ``configs`` on ``executor`` as the module docstring says; yield rows as they land.

    A configuration that fails before any repair (no image meets the criterion, a bad layer)
    gets its row on the driver without a task. ``compute`` is the worker's function (a test
    passes one that kills its worker on the first attempt).
    """
    if not configs:
        return
    workspaces: dict[tuple[str | None, ...], tuple[Workspace, Shared[Workspace]]] = {}

    def workspace_of(config: TrialConfig) -> tuple[Workspace, Shared[Workspace]]:
        key = (config.weights, config.dataset, config.data_root, config.label_overrides,
               config.exclude_flagged)
        if key not in workspaces:
            # On the CPU: the shared copy travels to workers that may have no GPU.
            workspace = config_workspace(config, device="cpu")
            # Each worker process gets its own copy, with its own in-memory reference cache.
            workspaces[key] = (workspace, executor.share(replace(workspace, moment_cache={})))
        return workspaces[key]

    first, _ = workspace_of(configs[0])
    if hasattr(executor, "memory_per_trial"):
        executor.memory_per_trial = max(estimate_trial_memory(first, config)
                                        for config in configs)
    finished_early: deque[Outcome[TrialConfig, Row]] = deque()

    def tasks() -> Iterator[RemoteTrial]:
        for config in configs:
            workspace, handle = workspace_of(config)
            row, edit_set = prepare_trial(config, workspace)
            if edit_set is None:
                finished_early.append(Outcome(config, result=row))
                continue
            model_file = repaired_model_file(config, workspace)
            yield RemoteTrial(config, row, edit_set, handle,
                              None if model_file is None else str(model_file))

    with contextlib.closing(executor.map_unordered(compute, tasks())) as outcomes:
        for outcome in outcomes:
            while finished_early:
                yield finished_early.popleft()
            trial = outcome.item
            if outcome.error is not None:
                yield Outcome(trial.config, error=outcome.error)
            else:
                yield Outcome(trial.config, result=finish_remote_trial(trial, outcome.result))
    while finished_early:
        yield finished_early.popleft()


def estimate_trial_memory(workspace: Workspace, config: TrialConfig) -> int:
    """Bytes one running trial may need on its worker, for the scheduler (an estimate).

    The worker's copy of the workspace (model and both splits as stored), the model three
    more times (the repair's copy, the repaired model, the returned state), a chunk of
    reference images as floats with their features, and a fixed allowance for the
    interpreter, torch and the solver.
    """
    model_bytes = sum(t.numel() * t.element_size()
                      for t in workspace.source.loaded.model.state_dict().values())
    splits = (workspace.source.split, workspace.train_split)
    data_bytes = sum(split.images.numel() + 8 * len(split.labels) for split in splits)
    chunk = min(config.reference_size, 1000) * math.prod(workspace.train_split.image_shape) * 4
    return int(4 * model_bytes + data_bytes + 4 * chunk + 512 * MiB)


__all__ = ["RemoteResult", "RemoteTrial", "compute_remote_trial", "estimate_trial_memory",
           "finish_remote_trial", "remote_outcomes"]
