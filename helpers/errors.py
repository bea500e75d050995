"""The one exception type for mistakes a user can fix.

Scripts catch :class:`UserError` at the top and print its message as a single line with exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment: says what is wrong and how to fix it."""


class NotFoundError(UserError):
    """A file, class, layer or set the user named does not exist."""


def is_user_error(error: BaseException) -> bool:
    """A :class:`UserError`, or an error of a package that cannot import this one but marks its
    exceptions ``is_user_error = True`` (``sytorch.errors.SytorchError``)."""
    return isinstance(error, UserError) or bool(getattr(error, "is_user_error", False))
