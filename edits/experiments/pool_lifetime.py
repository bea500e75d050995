"""Tie a process's life to its parent's: imported by the process pool's fork server.

Linux's ``PR_SET_PDEATHSIG`` asks the kernel to send SIGKILL to this process when the thread
that started it ends. The fork server imports this module first (it is in the pool's preload
list), so a ``kill -9`` of the runner kills the fork server; every worker makes the same request
about the fork server (:func:`die_with_parent`, in the pool's initializer), and the resource
tracker exits by itself once nobody holds its pipe. Elsewhere than Linux this does nothing.

Importing this module *is* the request, so only the fork server may import it by name.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask for SIGKILL when the parent ends; exit at once if it already has. True if set."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):  # no libc prctl: not Linux
        return False
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)
    return True


die_with_parent()
