"""Exceptions raised by the data layer.

A :class:`CorruptFileError` is a :class:`~hat.errors.UserInputError`: the tools print it as one
``prog: error: message`` line. Raised inside a DataLoader worker, torch re-raises it in the main
process as ``CorruptFileError("Caught CorruptFileError in DataLoader worker process N.\\n
Original Traceback ...")``; the constructor recognises that form and keeps only the original
one-line message (plus where it was raised), the worker's traceback stays in
:attr:`CorruptFileError.worker_traceback`.
"""

from __future__ import annotations

from hat.errors import UserInputError

__all__ = ["CorruptFileError"]

_CAUGHT = "Caught "
_ORIGINAL = "\nOriginal Traceback (most recent call last):\n"


class CorruptFileError(UserInputError):
    """A data file exists but its content is not what its format requires.

    The message always names the file (and the LMDB key) and what was expected.
    """

    def __init__(self, message: object = "") -> None:
        text = str(message)
        self.worker_traceback = ""
        if text.startswith(_CAUGHT) and _ORIGINAL in text:
            text, self.worker_traceback = _unwrap_worker_message(text, type(self)), text
        super().__init__(text)


def _unwrap_worker_message(text: str, cls: type) -> str:
    """The original message out of torch's ``ExceptionWrapper.reraise`` text."""
    head, _, trace = text.partition(_ORIGINAL)
    where = head[len(_CAUGHT) :].split(" ", 1)[-1].rstrip(".")  # "in DataLoader worker ..."
    prefixes = (f"{cls.__module__}.{cls.__qualname__}: ", f"{cls.__qualname__}: ")
    lines = trace.rstrip("\n").splitlines()
    for i in range(len(lines) - 1, -1, -1):
        for prefix in prefixes:
            if lines[i].startswith(prefix):
                original = " ".join([lines[i][len(prefix) :], *lines[i + 1 :]]).strip()
                return f"{original} ({where})"
    return f"{lines[-1].strip() if lines else head} ({where})"
