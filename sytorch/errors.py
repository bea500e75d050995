"""The one exception type of sytorch: a problem its caller can fix.

sytorch imports nothing else of this project, so it cannot raise the CLI's ``UserError``; it
raises :class:`SytorchError` instead (a layer that is not Linear, an unknown norm, a solver that
is not installed or not licensed for the problem's size). ``is_user_error`` tells the scripts'
top level (``helpers.cli.run_main``) to print it as one ``error: ...`` line with exit code 2;
``edits.repair`` turns it into the project's ``UserError`` at its boundary.
"""

from __future__ import annotations


class SytorchError(ValueError):
    """The problem as posed cannot be built or solved; the message says how to fix it."""

    is_user_error = True
