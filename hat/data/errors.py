"""Exceptions raised by the data layer."""

from __future__ import annotations

__all__ = ["CorruptFileError"]


class CorruptFileError(ValueError):
    """A data file exists but its content is not what its format requires.

    The message always names the file and what was expected.
    """
