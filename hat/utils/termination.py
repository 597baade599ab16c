"""SIGTERM handled like Ctrl-C: the run unwinds (temp files removed, the last complete checkpoint
kept), prints one line and exits with ``128 + 15``.

:func:`handle_sigterm` makes SIGTERM raise :class:`Terminated`, a ``KeyboardInterrupt``, in the
main thread; ``except Exception`` blocks do not swallow it and the command-line wrapper
(:func:`hat.utils.cli.run_cli`) prints ``prog: terminated by SIGTERM``. Only the first signal
raises: a second one while the run unwinds is ignored, so clean-up is not cut short (SIGKILL
still ends the process at once).

Spawned ranks run their work through :func:`run_rank_quietly`: the launcher that stopped them
reports, the ranks exit silently with the signal's code.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Terminated", "handle_sigterm", "termination_requested", "run_rank_quietly"]

_requested: list[int] = []  # signals received since handle_sigterm()


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM (see module docstring)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


def handle_sigterm() -> None:
    """Install the SIGTERM handler (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _on_signal)


def termination_requested() -> bool:
    """True once SIGTERM arrived (after :func:`handle_sigterm`)."""
    return bool(_requested)


def run_rank_quietly(work: Callable[[], Any]) -> int:
    """``work()`` in a spawned rank; a stop (Ctrl-C, SIGTERM) and any error raised after one (a
    peer that left mid-collective) return the exit code silently: the launcher reports."""
    try:
        return work() or 0
    except KeyboardInterrupt as exc:
        return getattr(exc, "exit_code", 128 + signal.SIGINT)
    except Exception:
        if _requested:
            return 128 + _requested[0]
        raise


def _on_signal(signum: int, frame: Any) -> None:
    first = not _requested
    _requested.append(signum)
    if first:
        raise Terminated(signum)
