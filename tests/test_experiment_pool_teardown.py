"""A ``kill -9`` of ``experiment_runner.py --workers 2`` leaves no process of its pool behind.

The pool's fork server, its two workers and the resource tracker used to be re-parented to PID 1
and wait forever. The test runs a real sweep on the tiny model and data, notes every process
descending from the runner while trials run, kills the runner with SIGKILL, and scans /proc:
none of them may be left (a zombie, already dead, counts as gone), nor anything else in the
runner's process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.cache import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "experiment_runner.py"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="scans /proc (Linux only)")


def process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def descendants(root: int, table: dict[int, tuple[int, int, str]]) -> set[int]:
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, (parent, _, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    table = process_table()
    return {pid for pid in pids if pid in table and table[pid][2] != "Z"}


def test_sigkill_of_a_two_worker_sweep_leaves_no_process(tiny_model_path, tiny_cifar_root,
                                                         tmp_path):
    sizes = [str(n) for n in range(1, 25)]
    args = ["--weights", str(tiny_model_path), "--data-root", str(tiny_cifar_root),
            "--reference-size", "100", "--margin", "1.0", "--repair-set-types", "misclassified",
            "--repair-set-sizes", *sizes, "--output-file", str(tmp_path / "rows.csv"),
            "--edit-sets-dir", str(tmp_path / "edit_sets"), "--no-save-models",
            "--no-progress", "--workers", "2"]
    with open(tmp_path / "stderr", "wb") as stderr:
        runner = subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=PROJECT_ROOT,
                                  stdout=subprocess.DEVNULL, stderr=stderr,
                                  start_new_session=True)
    try:
        # Wait for the pool: fork server, two workers, resource tracker, and a finished row.
        deadline = time.monotonic() + 240
        pool: set[int] = set()
        while runner.poll() is None and time.monotonic() < deadline:
            pool = descendants(runner.pid, process_table())
            rows = (tmp_path / "rows.csv").read_bytes().count(b"\n") - 1 \
                if (tmp_path / "rows.csv").exists() else 0
            if len(pool) >= 4 and rows >= 1:
                break
            time.sleep(0.05)
        assert runner.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
        assert len(pool) >= 4, f"pool did not start: {pool}"
        pool = descendants(runner.pid, process_table())  # the latest view, just before the kill
        runner.send_signal(signal.SIGKILL)
        runner.wait()

        deadline = time.monotonic() + 15
        while alive(pool) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(pool)
        group = {pid for pid, (_, pgid, state) in process_table().items()
                 if pgid == runner.pid and state != "Z"}
        assert not left, f"left running after the kill: {left}"
        assert not group, f"still in the runner's process group: {group}"
    finally:
        if runner.poll() is None:
            runner.kill()
        for pid in alive(descendants(runner.pid, process_table())):
            os.kill(pid, signal.SIGKILL)

