"""A child process that ends the moment its parent ends: :func:`die_with_parent`.

Used by the processes the launcher spawns (one per rank): when the launcher is killed, even with
SIGKILL, its ranks must not go on training and writing checkpoints. On Linux the kernel sends
SIGKILL to the child when the parent exits (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
thread also watches the parent (``os.getppid()`` changing on POSIX, the parent's process handle on
Windows) and kills the process when it goes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.5


def die_with_parent(parent_pid: int) -> None:
    """End this process as soon as process ``parent_pid`` (its parent) ends."""
    _set_parent_death_signal()
    if os.name != "nt" and os.getppid() != parent_pid:  # the parent went before we got here
        _die()
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _set_parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    if os.name == "nt":
        parent = multiprocessing.parent_process()
        if parent is not None:
            parent.join()  # returns when the parent's handle is signalled: it exited
            _die()
        return
    while os.getppid() == parent_pid:
        time.sleep(_POLL_S)
    _die()


def _die() -> None:
    if os.name == "nt":
        os._exit(1)
    os.kill(os.getpid(), signal.SIGKILL)
