"""Atomic file writes: write a temp file in the target directory, fsync, then ``os.replace``."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import IO

__all__ = ["atomic_write", "atomic_copy"]


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Create or replace ``path`` with what ``write(file)`` writes, all or nothing.

    The data goes to a temp file in the same directory (so ``os.replace`` is a rename on one
    filesystem); on any error the temp file is removed and the previous ``path`` is untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_copy(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` atomically (``dst`` is either the old file or a full copy)."""

    def _copy(f: IO[bytes]) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, length=16 << 20)

    atomic_write(dst, _copy)
