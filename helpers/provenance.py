"""Where a number came from: the machine, the commit and the command that produced it.

Benchmarks and measurement reports print these beside every figure, so a number can be
reproduced or discounted (a load average of 4 on 2 cores explains a slow run).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers.cache import PROJECT_ROOT


def machine() -> dict[str, Any]:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or None,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "load_average_1min": round(os.getloadavg()[0], 2)}


def commit() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    return {"sha": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def command() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    On Linux from ``VmHWM`` in ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` survives
    ``fork`` and ``exec``, so a benchmark's child process would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def provenance() -> dict[str, Any]:
    return {"machine": machine(), "commit": commit(), "command": command()}
