"""SIGTERM handled like Ctrl-C: the run unwinds (temp files removed, the last complete checkpoint
kept), prints one line and exits with ``128 + 15``.

:func:`handle_sigterm` makes SIGTERM raise :class:`Terminated`, a ``KeyboardInterrupt``, in the
main thread; ``except Exception`` blocks do not swallow it and the command-line wrapper
(:func:`hat.utils.cli.run_cli`) prints ``prog: terminated by SIGTERM``. Only the first signal
raises: a second one while the run unwinds is ignored, so clean-up is not cut short (SIGKILL
still ends the process at once).

A Python signal handler runs only when the main thread returns to the interpreter; a rank
blocked in a collective or a rendezvous whose peer is gone would not see SIGTERM until a timeout.
With ``force_after_s``, the signal also wakes a watch thread (``signal.set_wakeup_fd``) that ends
the process with the same exit code when it has not ended by itself that many seconds later.
Forked children (data-loader workers) get the default SIGTERM action back.

Spawned ranks run their work through :func:`run_rank_quietly`: the launcher that stopped them
reports, the ranks exit silently with the signal's code.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "Terminated",
    "handle_sigterm",
    "termination_requested",
    "run_rank_quietly",
    "exit_stopped_rank",
]

_requested: list[int] = []  # signals received since handle_sigterm()
_wakeup: list[socket.socket] = []  # the watch thread's socket pair, once started
_exiting: list[bool] = []  # set by an exit hook: the interpreter is shutting down


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM (see module docstring)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


def handle_sigterm(force_after_s: float | None = None, prog: str = "") -> None:
    """Make SIGTERM raise :class:`Terminated` (main thread only; elsewhere a no-op); with
    ``force_after_s``, also end the process that many seconds after SIGTERM if it is still
    there (saying so on stderr as ``prog``)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _on_signal)
    if not _exiting:
        # Registered after torch's own exit hooks, so it runs before them (LIFO).
        atexit.register(_exiting.append, True)
        _exiting.append(False)
    if force_after_s is not None and not _wakeup:
        _start_watch(force_after_s, prog)


def termination_requested() -> bool:
    """True once SIGTERM arrived (after :func:`handle_sigterm`)."""
    return bool(_requested)


# How long a rank whose work raised waits for the launcher's SIGTERM before it reports the
# error itself: a peer's death breaks this rank's collective at once, and the launcher, woken by
# the same death, stops the survivors within milliseconds.
PEER_STOP_WAIT_S = 3.0


def run_rank_quietly(work: Callable[[], Any], peer_stop_wait_s: float = PEER_STOP_WAIT_S) -> int:
    """``work()`` in a spawned rank; a stop (Ctrl-C, SIGTERM) and any error raised after one (a
    peer that left mid-collective) return the exit code silently: the launcher reports.

    An error raised before any stop, in a run of several ranks, waits up to
    ``peer_stop_wait_s`` seconds for one: when it comes, the error was the symptom of another
    rank's failure (a collective whose peer is gone) and the rank exits silently; otherwise the
    error is this rank's own and is raised."""
    try:
        return work() or 0
    except KeyboardInterrupt as exc:
        return getattr(exc, "exit_code", 128 + signal.SIGINT)
    except Exception:
        if _requested:
            return 128 + _requested[0]
        if _world_size() > 1 and _stopped_within(peer_stop_wait_s):
            return 128 + _requested[0]
        raise


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def _stopped_within(seconds: float) -> bool:
    """Sleep until a stop arrives (True) or ``seconds`` passed (False)."""
    deadline = time.monotonic() + seconds
    try:
        while not _requested and time.monotonic() < deadline:
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    return bool(_requested)


def exit_stopped_rank(code: int) -> None:
    """End a spawned rank that was stopped (Ctrl-C, SIGTERM) with ``code`` at once: standard
    streams are flushed, but the interpreter's exit (C++ destructors of a process group whose
    peers are gone, which can abort with "terminate called without an active exception") is
    skipped; the run's files were closed while the stop unwound."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _start_watch(force_after_s: float, prog: str) -> None:
    read, write = socket.socketpair()
    write.setblocking(False)
    signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
    _wakeup[:] = [read, write]
    os.register_at_fork(after_in_child=_reset_in_child)
    threading.Thread(
        target=_watch, args=(read, force_after_s, prog), name="sigterm-watch", daemon=True
    ).start()


def _watch(read: socket.socket, force_after_s: float, prog: str) -> None:
    while True:
        received = read.recv(64)
        if not received:  # closed
            return
        if signal.SIGTERM in received:
            break
    time.sleep(force_after_s)
    sys.stderr.write(
        f"{prog or 'hat'}: terminated by SIGTERM (no clean exit within {force_after_s:g} s)\n"
    )
    sys.stderr.flush()
    os._exit(128 + signal.SIGTERM)


def _reset_in_child() -> None:
    """In a forked child: the parent's watch thread is not there; SIGTERM ends it as usual."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # forked from another thread: leave the handlers as they are
        pass
    for sock in _wakeup:
        sock.close()
    _wakeup.clear()


def _on_signal(signum: int, frame: Any) -> None:
    first = not _requested
    _requested.append(signum)
    if _exiting[-1:] == [True] or sys.is_finalizing():
        # The work is over and the interpreter is running its exit hooks: raising here would
        # print a traceback from inside whichever hook runs; the process ends by itself.
        return
    if first:
        raise Terminated(signum)
