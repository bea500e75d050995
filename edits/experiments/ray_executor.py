"""The ``ray`` executor: each trial a Ray task, on this machine or on any node of a cluster.

``ray.init`` starts a local instance (no address) or joins a cluster (``auto`` or
``HOST:PORT``, see the README). The code travels with the job (``py_modules``: the project's
own packages, so a node needs only the Python environment), and the workers start in an empty
scratch folder: a trial that reached for the user's ``data/`` would fail here as it would on
another node. The inputs go through the object store (:meth:`RayExecutor.share`, put once) and
the rows and models come back to the driver (:mod:`edits.experiments.remote`).

A task whose worker process dies (killed, out of memory, a lost node) is run again by Ray, up
to ``max_retries`` times; the sweep keys rows by ``experiment_id``, so a retried trial still
gives one row. An exception raised *by the trial* is not retried: it is the trial's answer.
Ctrl-C cancels the tasks in flight and, when this process started the instance, stops it.

Ray is an optional dependency (``uv sync --extra ray``): this module imports it only when an
executor is made, so the registry lists ``ray`` either way.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from edits.experiments.executors import (
    Executor,
    Item,
    Outcome,
    Result,
    Shared,
    Value,
    register_executor,
)
from helpers.cache import PROJECT_ROOT
from helpers.errors import UserError

log = logging.getLogger(__name__)

CODE_PACKAGES = ("edits", "editset_helpers", "helpers", "model_classes", "sytorch")
DEFAULT_MAX_RETRIES = 2
START_ATTEMPTS = 3
UV_HOOK_VARIABLE = "RAY_ENABLE_UV_RUN_RUNTIME_ENV"

_FETCHED: dict[str, Any] = {}  # in a worker process: object id -> the shared value, fetched once


def import_ray() -> ModuleType:
    # Ray's own `uv run` support would start every worker through `uv run` with the whole
    # project folder (data/ included) as its working_dir; the code travels as py_modules here.
    os.environ.setdefault(UV_HOOK_VARIABLE, "0")
    try:
        import ray
        from ray._private import ray_constants
    except ImportError:
        raise UserError("--executor ray needs Ray, an optional dependency: run `uv sync "
                        "--extra ray` (or `pip install 'ray>=2.40'`)") from None
    if os.environ[UV_HOOK_VARIABLE] == "0":  # Ray was imported before the variable was set
        ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV = False
    return ray


def worker_runtime_env(working_dir: str | Path) -> dict[str, Any]:
    """The job's environment on every worker: our packages, no progress bars, ``working_dir``
    as the current folder."""
    return {"py_modules": [str(PROJECT_ROOT / name) for name in CODE_PACKAGES],
            "working_dir": str(working_dir),
            "env_vars": {"TQDM_DISABLE": "1"}}


def connect(address: str | None = None, *, num_cpus: int | None = None,
            object_store_memory: int | None = None, working_dir: str | Path | None = None
            ) -> bool:
    """Join the cluster at ``address``, or start a local instance; True if this call did either.

    Nothing happens when this process is connected already (a notebook, a test): the caller
    then neither started nor stops it. ``num_cpus`` and ``object_store_memory`` size a local
    instance; ``working_dir`` is the workers' current folder (default: an empty scratch one).
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    local = {} if address else {"num_cpus": num_cpus, "object_store_memory": object_store_memory,
                                "include_dashboard": False,
                                # Ray's 60 s for a new worker process to register is too short
                                # on a loaded machine: the task then fails without running.
                                "_system_config": {"worker_register_timeout_seconds": 600,
                                                   "agent_register_timeout_ms": 600_000}}
    with tempfile.TemporaryDirectory(prefix="ray-trials-") as scratch:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                ray.init(address=address, runtime_env=worker_runtime_env(working_dir or scratch),
                         logging_level=logging.WARNING, log_to_driver=True, **local)
                return True
            except ConnectionError as error:
                raise UserError(f"cannot join the Ray cluster at {address!r} ({error}); start "
                                "one with `ray start --head`, or leave out --ray-address for a "
                                "local instance") from None
            except Exception as error:  # Ray raises a bare Exception when its node is slow
                ray.shutdown()
                if address or attempt == START_ATTEMPTS:
                    raise UserError(f"could not start Ray ({error})") from None
                # A local node whose processes start slowly on a busy machine times out at a
                # fixed 30 s; a second try usually finds the files cached and starts.
                log.warning("starting Ray failed (%s); trying again (%d of %d)", error,
                            attempt + 1, START_ATTEMPTS)
    return True


class RayShared(Shared[Value]):
    """A value in Ray's object store; each worker process fetches it once."""

    def __init__(self, ref: Any) -> None:  # a ray.ObjectRef
        self.ref = ref

    def get(self) -> Value:
        key = self.ref.hex()
        if key not in _FETCHED:
            if len(_FETCHED) >= 2:  # a sweep has one workspace per model; keep few
                _FETCHED.pop(next(iter(_FETCHED)))
            _FETCHED[key] = import_ray().get(self.ref)
        return _FETCHED[key]


def _run_task(function: Callable[[Item], Result], item: Item, threads: int,
              log_level: int) -> Result:
    """Runs in the Ray worker: torch threads as reserved, the runner's log level, the trial."""
    import torch

    torch.set_num_threads(threads)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: "
                            "%(message)s", datefmt="%H:%M:%S")
    root.setLevel(log_level)
    return function(item)


@register_executor("ray")
class RayExecutor(Executor):
    """Trials as Ray tasks: ``threads_per_trial`` CPUs each (default 1) and a memory estimate.

    ``workers`` caps the trials in flight (default: as many as the cluster's CPUs allow).
    """

    ships_inputs = True

    def __init__(self, workers: int | None = None, *, log_level: int = logging.WARNING,
                 threads_per_trial: int | None = None, address: str | None = None,
                 max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        import_ray()  # fail before any work with the install hint
        super().__init__(workers, log_level=log_level, threads_per_trial=threads_per_trial or 1)
        self.workers_cap = workers
        self.address = address
        self.max_retries = max_retries
        self.memory_per_trial: int | None = None  # bytes; set by the sweep (remote.py)
        self.cluster_cpus = 0
        self.running = 0
        self._started = False

    def _connect(self) -> None:
        self._started = connect(self.address) or self._started

    def share(self, value: Value) -> Shared[Value]:
        self._connect()
        return RayShared(import_ray().put(value))

    def progress_fields(self) -> dict[str, Any]:
        return {"cpus": self.cluster_cpus, "running": self.running}

    def describe(self) -> str:
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
        return f"ray executor on {where}, {self.threads_per_worker} CPU(s) per trial"

    def map_unordered(self, function: Callable[[Item], Result], items: Iterable[Item]
                      ) -> Iterator[Outcome[Item, Result]]:
        ray = import_ray()
        self._connect()
        pending: dict[Any, Item] = {}
        try:
            self.cluster_cpus = int(ray.cluster_resources().get("CPU", 0))
            options: dict[str, Any] = {"num_cpus": self.threads_per_worker,
                                       "max_retries": self.max_retries,
                                       "retry_exceptions": False}
            if self.memory_per_trial:
                options["memory"] = self.memory_per_trial
            task = ray.remote(_run_task).options(**options)
            slots = self.workers_cap or max(1, self.cluster_cpus // self.threads_per_worker)
            log.info("%s: %d CPUs, up to %d trials at once", self.describe(), self.cluster_cpus,
                     slots)
            queue = iter(items)

            def fill() -> None:
                while len(pending) < slots:
                    item = next(queue, _DONE)
                    if item is _DONE:
                        return
                    pending[task.remote(function, item, self.threads_per_worker,
                                        self.log_level)] = item

            fill()
            self.running = len(pending)
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(ready)
                try:
                    outcome = Outcome(item, result=ray.get(ready))
                except ray.exceptions.RayTaskError as error:  # the trial raised
                    outcome = Outcome(item, error=error.as_instanceof_cause())
                except ray.exceptions.RayError as error:  # its worker died max_retries + 1 times
                    outcome = Outcome(item, error=error)
                fill()
                self.running = len(pending)
                yield outcome
        finally:
            for ref in pending:  # Ctrl-C or a fatal error: stop what is still running
                ray.cancel(ref, force=True)
            self.running = 0
            if self._started:
                ray.shutdown()
                self._started = False


_DONE = object()
