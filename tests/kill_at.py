"""Run a project script and SIGKILL it at one exact point: just before a chosen file is renamed
into place. Used by the kill tests as ``python tests/kill_at.py SUFFIX script.py args...``.

Every output goes through ``os.replace`` (helpers.atomic_io), so "before the rename of the file
ending in SUFFIX" is a deterministic point between two writes, with no hook in the project's
own code.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys


def main() -> None:
    suffix, script, *args = sys.argv[1:]
    real_replace = os.replace

    def replace(source, destination, *rest, **options):
        if str(destination).endswith(suffix):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(source, destination, *rest, **options)

    os.replace = replace
    sys.argv = [script, *args]
    sys.path.insert(0, os.getcwd())
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
