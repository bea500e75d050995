"""Where trials run: one small base class, a registry by name, serial and process-pool members.

An executor gets a top-level function and a list of picklable items and yields an
:class:`Outcome` per item *as it finishes* (in any order); the caller, never a worker, writes
the rows. A trial that raises comes back as an outcome with ``error`` set, so one crash does not
stop the others.

Adding an executor (Ray, Slurm, Dask) touches neither the trials nor the sweep: subclass
:class:`Executor`, decorate it with ``@register_executor("name")``, and import its module where
the runner looks (the end of this file), so ``--executor name`` appears in the CLI. A Ray
executor is about this much (``pip install ray``; the data root, the edit-set and the model
folders must be on a file system the workers share, or on every node at the same path)::

    @register_executor("ray")
    class RayExecutor(Executor):
        # Each trial is a Ray task on any node of the cluster that ray.init joins.
        def map_unordered(self, function, items):
            import ray

            ray.init(address="auto", ignore_reinit_error=True)
            task = ray.remote(num_cpus=self.threads_per_worker)(function)
            pending = {task.remote(item): item for item in items}
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(ready)
                try:
                    yield Outcome(item, result=ray.get(ready))
                except Exception as error:  # Ray re-raises the task's own exception type
                    yield Outcome(item, error=error)

A Ray worker process keeps its imported modules between tasks, so the trial's per-process
model cache (:func:`edits.experiments.trial.load_workspace`) works there as it does here.

This module imports neither torch nor the trial code at the top, so importing it stays cheap.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from helpers.errors import UserError

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


@dataclass
class Outcome(Generic[Item, Result]):
    """One item's result, or the exception it raised."""

    item: Item
    result: Result | None = None
    error: BaseException | None = None


class Executor(ABC):
    """Runs ``function(item)`` for every item, independently, and yields outcomes as they land.

    ``workers`` is how many run at once; ``threads_per_worker`` how many CPU threads each may
    use (torch's intra-op threads), so workers x threads does not oversubscribe the machine.
    """

    name: ClassVar[str] = ""

    def __init__(self, workers: int = 1, *, log_level: int = logging.WARNING) -> None:
        if workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.log_level = log_level
        self.threads_per_worker = max(1, available_cpus() // workers)

    @abstractmethod
    def map_unordered(self, function: Callable[[Item], Result], items: Sequence[Item]
                      ) -> Iterator[Outcome[Item, Result]]:
        """Yield one :class:`Outcome` per item, in completion order."""


EXECUTORS: dict[str, type[Executor]] = {}


def register_executor(name: str) -> Callable[[type[Executor]], type[Executor]]:
    def decorate(cls: type[Executor]) -> type[Executor]:
        cls.name = name
        EXECUTORS[name] = cls
        return cls
    return decorate


def make_executor(name: str | None, workers: int, *, log_level: int = logging.WARNING
                  ) -> Executor:
    """``name=None`` picks ``serial`` for one worker and ``process`` for more."""
    name = name or ("serial" if workers == 1 else "process")
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; use one of {', '.join(sorted(EXECUTORS))}")
    return EXECUTORS[name](workers, log_level=log_level)


def available_cpus() -> int:
    """CPUs this process may use (the affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@register_executor("serial")
class SerialExecutor(Executor):
    """In this process, one item after another: the simplest, and the easiest to debug."""

    def __init__(self, workers: int = 1, *, log_level: int = logging.WARNING) -> None:
        if workers != 1:
            raise UserError(f"the serial executor runs one trial at a time; got --workers "
                            f"{workers} (use --executor process)")
        super().__init__(1, log_level=log_level)

    def map_unordered(self, function: Callable[[Item], Result], items: Sequence[Item]
                      ) -> Iterator[Outcome[Item, Result]]:
        for item in items:
            try:
                yield Outcome(item, result=function(item))
            except Exception as error:
                yield Outcome(item, error=error)


@register_executor("process")
class ProcessExecutor(Executor):
    """A local pool of ``workers`` processes started by a fork server.

    Not plain ``fork``: forking a process that has already run torch's thread pools can
    deadlock the child. Not ``spawn`` either: every worker would import torch, torchvision
    and the engine again (seconds each). The fork server is a fresh, single-threaded process
    that imports the trial code once (``PRELOAD``) and forks each worker from there. Each
    worker then sets its torch threads and logging (:func:`_init_worker`) and keeps the model
    it loads for all its later trials.
    """

    PRELOAD: ClassVar[list[str]] = ["edits.experiments.trial"]

    def map_unordered(self, function: Callable[[Item], Result], items: Sequence[Item]
                      ) -> Iterator[Outcome[Item, Result]]:
        if not items:
            return
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self.PRELOAD)
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(items)),
                                   mp_context=context,
                                   initializer=_init_worker,
                                   initargs=(self.threads_per_worker, self.log_level))
        try:
            pending: dict[Future[Any], Item] = {pool.submit(function, item): item
                                                for item in items}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    try:
                        yield Outcome(item, result=future.result())
                    except Exception as error:
                        yield Outcome(item, error=error)
        finally:
            # On an early exit (a fatal error, Ctrl-C) do not wait for trials not yet started.
            pool.shutdown(wait=True, cancel_futures=True)


def _init_worker(threads: int, log_level: int) -> None:
    """Runs first in every worker process: threads, logging, and no progress bars."""
    import torch
    import tqdm

    # The parent's bar is the only one: the engine's inner bars (forward passes, evaluation)
    # from several workers would garble it. TQDM_DISABLE is read only when tqdm is imported,
    # and the fork server imported it already, so the default is changed on the class.
    tqdm.tqdm.__init__ = functools.partialmethod(tqdm.tqdm.__init__, disable=True)

    torch.set_num_threads(threads)
    logging.basicConfig(level=log_level,
                        format="%(asctime)s %(levelname)s [%(processName)s] %(name)s: "
                               "%(message)s", datefmt="%H:%M:%S")
