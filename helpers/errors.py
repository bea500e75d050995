"""The one exception type for mistakes a user can fix.

Scripts catch :class:`UserError` at the top and print its message as a single line with exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment: says what is wrong and how to fix it."""


class NotFoundError(UserError):
    """A file, class, layer or set the user named does not exist."""
