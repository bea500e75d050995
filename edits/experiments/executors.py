"""Where trials run: one small base class, a registry by name, serial, process-pool and Ray.

An executor gets a top-level function and picklable items and yields an :class:`Outcome` per
item *as it finishes* (in any order); the caller, never a worker, writes the rows. A trial that
raises comes back as an outcome with ``error`` set, so one crash does not stop the others.

Adding an executor (Slurm, Dask) touches neither the trials nor the sweep: subclass
:class:`Executor`, decorate it with ``@register_executor("name")``, and import its module where
the runner looks (the end of this file), so ``--executor name`` appears in the CLI. An executor
whose workers may share no file system with the driver sets ``ships_inputs``: the sweep then
loads the model and the data on the driver, hands them to :meth:`Executor.share` once, and
writes every file itself (:mod:`edits.experiments.remote`); the Ray member
(:mod:`edits.experiments.ray_executor`) is one.

The process pool dies with the runner, even on ``kill -9``: the fork server and each worker
ask the kernel for SIGKILL when their parent ends (:mod:`edits.experiments.pool_lifetime`), and
the resource tracker ends by itself once no process holds its pipe open.

This module imports neither torch, Ray nor the trial code at the top, so importing it stays
cheap.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from helpers.errors import UserError

Item = TypeVar("Item")
Result = TypeVar("Result")
Value = TypeVar("Value")

log = logging.getLogger(__name__)


@dataclass
class Outcome(Generic[Item, Result]):
    """One item's result, or the exception it raised."""

    item: Item
    result: Result | None = None
    error: BaseException | None = None


class Shared(Generic[Value]):
    """A value that every task of a sweep reads (the model, the data): :meth:`get` returns it.

    Local executors hand the object itself around; an executor with ``ships_inputs`` puts it in
    its store once and returns a handle whose ``get`` fetches it (once per worker process).
    """

    def __init__(self, value: Value) -> None:
        self._value = value

    def get(self) -> Value:
        return self._value


class Executor(ABC):
    """Runs ``function(item)`` for every item, independently, and yields outcomes as they land.

    ``workers`` is how many run at once (``None``: the executor's own default);
    ``threads_per_trial`` how many CPU threads each may use (torch's intra-op threads), so
    workers x threads does not oversubscribe the machine.
    """

    name: ClassVar[str] = ""
    ships_inputs: ClassVar[bool] = False  # workers may share no file system with the driver

    def __init__(self, workers: int | None = None, *, log_level: int = logging.WARNING,
                 threads_per_trial: int | None = None, address: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise UserError(f"--workers must be at least 1, got {workers}")
        if threads_per_trial is not None and threads_per_trial < 1:
            raise UserError(f"--threads-per-trial must be at least 1, got {threads_per_trial}")
        if address is not None:
            raise UserError(f"--ray-address applies to --executor ray, not {self.name}")
        self.workers = workers or 1
        self.log_level = log_level
        self.threads_per_worker = threads_per_trial or max(1, available_cpus() // self.workers)

    @abstractmethod
    def map_unordered(self, function: Callable[[Item], Result], items: Iterable[Item]
                      ) -> Iterator[Outcome[Item, Result]]:
        """Yield one :class:`Outcome` per item, in completion order.

        ``items`` may be a lazy iterable: an executor takes the next item only when it can
        start it.
        """

    def share(self, value: Value) -> Shared[Value]:
        """Make ``value`` readable by every task (see :class:`Shared`)."""
        return Shared(value)

    def progress_fields(self) -> dict[str, Any]:
        """Extra fields for the driver's progress bar (the cluster's CPUs, trials running)."""
        return {}

    def describe(self) -> str:
        return f"{self.name} executor with {self.workers} worker(s)"


EXECUTORS: dict[str, type[Executor]] = {}


def register_executor(name: str) -> Callable[[type[Executor]], type[Executor]]:
    def decorate(cls: type[Executor]) -> type[Executor]:
        cls.name = name
        EXECUTORS[name] = cls
        return cls
    return decorate


def make_executor(name: str | None, workers: int | None = None, *,
                  log_level: int = logging.WARNING, threads_per_trial: int | None = None,
                  address: str | None = None) -> Executor:
    """``name=None`` picks ``serial`` for one worker (or none given) and ``process`` for more.

    ``address`` (a Ray cluster's ``auto`` or ``HOST:PORT``) is for the ``ray`` executor only.
    """
    name = name or ("ray" if address is not None
                    else "serial" if workers in (None, 1) else "process")
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; use one of {', '.join(sorted(EXECUTORS))}")
    return EXECUTORS[name](workers, log_level=log_level, threads_per_trial=threads_per_trial,
                           address=address)


def available_cpus() -> int:
    """CPUs this process may use (the affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@register_executor("serial")
class SerialExecutor(Executor):
    """In this process, one item after another: the simplest, and the easiest to debug."""

    def __init__(self, workers: int | None = None, **options: Any) -> None:
        if workers not in (None, 1):
            raise UserError(f"the serial executor runs one trial at a time; got --workers "
                            f"{workers} (use --executor process)")
        super().__init__(1, **options)

    def map_unordered(self, function: Callable[[Item], Result], items: Iterable[Item]
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

    # pool_lifetime first: importing it ties the fork server's life to the runner's.
    PRELOAD: ClassVar[list[str]] = ["edits.experiments.pool_lifetime", "edits.experiments.trial"]

    def map_unordered(self, function: Callable[[Item], Result], items: Iterable[Item]
                      ) -> Iterator[Outcome[Item, Result]]:
        items = list(items)
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
    """Runs first in every worker process: its end with the runner, threads, logging, and no
    progress bars."""
    import torch
    import tqdm

    from edits.experiments.pool_lifetime import die_with_parent

    die_with_parent()  # the fork server, which itself dies with the runner

    # The parent's bar is the only one: the engine's inner bars (forward passes, evaluation)
    # from several workers would garble it. TQDM_DISABLE is read only when tqdm is imported,
    # and the fork server imported it already, so the default is changed on the class.
    tqdm.tqdm.__init__ = functools.partialmethod(tqdm.tqdm.__init__, disable=True)

    torch.set_num_threads(threads)
    logging.basicConfig(level=log_level,
                        format="%(asctime)s %(levelname)s [%(processName)s] %(name)s: "
                               "%(message)s", datefmt="%H:%M:%S")



from edits.experiments import ray_executor as _ray_executor  # noqa: E402,F401  (registers "ray")
