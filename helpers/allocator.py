"""glibc malloc settings for CPU training, applied by re-executing the script once.

With glibc's defaults every tensor above the dynamic mmap threshold (AlexNet's 64-150 MB
classifier weights and their gradients) is a fresh ``mmap`` and, when freed, a ``munmap``:
each training step then page-faults the memory in again. On the quick start's 2-core machine
that was 332 of 1,800 CPU-seconds of system time. Keeping freed memory in the heap (a high
mmap and trim threshold) removes those faults: measured 0.30 -> 0.014 s of system time per
batch, 160,000 -> 0 minor faults per batch (README.md, "Quick start"). PyTorch's CPU
performance guide recommends the same through an alternative allocator; these variables need
nothing installed.

glibc reads them only when a process starts, so :func:`reexec_with_tuned_malloc` re-executes
the interpreter with them set. It does so once (a marker variable stops a loop), only on
Linux with glibc, and never when the user set any of them already.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping

MARKER = "ALEXNET_REPAIR_MALLOC_TUNED"
SETTINGS: Mapping[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),  # large tensors come from the heap, not mmap
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),  # and freed ones stay there for the next step
    "MALLOC_TOP_PAD_": str(256 << 20),
    "MALLOC_ARENA_MAX": "2",  # one arena per core: fewer half-empty heaps
}


def tuned_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """``environ`` with the settings added, or None when nothing should change."""
    if environ.get(MARKER) or any(name in environ for name in SETTINGS):
        return None
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return {**environ, **SETTINGS, MARKER: "1"}


def reexec_with_tuned_malloc() -> None:
    """Replace this process by the same command with the settings (see module doc)."""
    environment = tuned_environment(os.environ)
    if environment is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
