"""Errors that library code raises for bad user input; the command-line tools print them as one
``prog: error: message`` line (see :mod:`hat.utils.cli`) instead of a traceback."""

from __future__ import annotations

__all__ = ["UserInputError"]


class UserInputError(ValueError):
    """Input given by the user (a file, a value, a name) is missing or invalid.

    The message names the input and what was expected.
    """
