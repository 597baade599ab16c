"""Allocator settings for processes that decode large samples.

Every sample allocates several MiB of fresh buffers. With glibc's defaults, freed large blocks
are handed back to the kernel (``munmap`` / heap trimming) and the next sample faults the pages
in again; on virtual machines that first-touch cost (~0.5 ms/MiB measured here) dominates
decoding. Raising the mmap and trim thresholds keeps the memory in the heap for reuse.
:func:`tune_malloc` does that once per process; the datasets call it on their first item.
Set ``HAT_TUNE_MALLOC=0`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned_pid: int | None = None


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Raise glibc's mmap/trim thresholds in this process (once); return True if applied.

    A no-op (False) on non-glibc platforms or when ``HAT_TUNE_MALLOC=0``.
    """
    global _tuned_pid
    if _tuned_pid == os.getpid():
        return True
    if os.environ.get("HAT_TUNE_MALLOC", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)))
    ok = bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))) and ok
    _tuned_pid = os.getpid()
    return ok
