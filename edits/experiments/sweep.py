"""Run a sweep: skip configurations whose rows exist, run the rest, append each row as it lands.

Only this process writes the CSV, one row per finished trial, in completion order. A trial that
*crashed* (an exception that is not a configuration's failure: a bug, a worker killed for
memory) writes no row: it is logged with its traceback and counted, and the next run retries
it. A :class:`~edits.experiments.trial.WorkspaceError` stops the sweep at once: if the model
or the data cannot be loaded, no configuration can run.

An executor whose workers share no file system with this process (``ships_inputs``, Ray) gets
the model and the data from here and gives the models back (:mod:`edits.experiments.remote`);
the rows are the same.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from edits.experiments.csv_log import ResultLog
from edits.experiments.executors import Executor
from edits.experiments.grid import TrialConfig
from edits.experiments.remote import (
    RemoteResult,
    RemoteTrial,
    compute_remote_trial,
    remote_outcomes,
)
from edits.experiments.trial import Row, WorkspaceError, run_trial

log = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    """Counts of one run of a sweep (configurations done before it are ``already_done``)."""

    total: int
    already_done: int
    written: int = 0
    repaired: int = 0
    crashed: list[tuple[TrialConfig, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Rows written with ``repair_successful=False``."""
        return self.written - self.repaired

    @property
    def complete(self) -> bool:
        """Every configuration of the grid now has its row."""
        return not self.crashed

    def describe(self) -> str:
        text = (f"{self.total} configurations: {self.already_done} already done, "
                f"{self.written} run now ({self.repaired} repaired, {self.failed} failed)")
        if self.crashed:
            text += f", {len(self.crashed)} crashed (no row; run again to retry them)"
        return text


def pending(configs: Sequence[TrialConfig], completed_ids: set[str]) -> list[TrialConfig]:
    return [config for config in configs if config.experiment_id not in completed_ids]


def run_sweep(configs: Sequence[TrialConfig], results: ResultLog, executor: Executor, *,
              trial: Callable[[TrialConfig], Row] = run_trial,
              remote_trial: Callable[[RemoteTrial], RemoteResult] = compute_remote_trial,
              progress: bool = True) -> SweepSummary:
    """Run every configuration of ``configs`` that ``results`` has no row for yet.

    ``trial`` (local executors) and ``remote_trial`` (executors that ship their inputs) must be
    top-level functions: a process pool pickles them by name.
    """
    todo = pending(configs, results.completed_ids)
    summary = SweepSummary(len(configs), len(configs) - len(todo))
    if summary.already_done:
        log.info("%s already holds %d of the %d configurations; running the other %d",
                 results.path, summary.already_done, len(configs), len(todo))
    bar = tqdm(total=len(configs), initial=summary.already_done, desc="repairs", unit="config",
               disable=not progress, dynamic_ncols=True)
    if executor.ships_inputs:
        runs = remote_outcomes(todo, executor, compute=remote_trial)
    else:
        runs = executor.map_unordered(trial, todo)
    with bar, contextlib.closing(runs) as outcomes:
        for outcome in outcomes:
            config = outcome.item
            if outcome.error is not None:
                if isinstance(outcome.error, WorkspaceError):
                    raise outcome.error
                log.error("%s (%s) crashed; no row written, a re-run retries it", config.label,
                          config.experiment_id, exc_info=outcome.error)
                summary.crashed.append((config, f"{type(outcome.error).__name__}: "
                                                f"{outcome.error}"))
            else:
                row = outcome.result
                results.append(row)
                summary.written += 1
                summary.repaired += bool(row["repair_successful"])
                log.info("%s: %s", config.label, describe_row(row))
            bar.update(1)
            bar.set_postfix(**executor.progress_fields(), repaired=summary.repaired,
                            failed=summary.failed, crashed=len(summary.crashed))
    return summary


def describe_row(row: dict[str, Any]) -> str:
    """One log line per finished configuration."""
    if not row["repair_successful"]:
        return f"not repaired ({row['repair_status']}): {row['error_message']}"
    return (f"repaired {row['actual_repair_set_size']} images in "
            f"{row['repair_runtime_seconds']:.1f} s; test accuracy "
            f"{100 * row['baseline_accuracy_test_set']:.2f}% -> "
            f"{100 * row['repaired_accuracy_test_set']:.2f}%, drawdown "
            f"{row['drawdown']:+.2f} points")
