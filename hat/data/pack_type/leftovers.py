"""Temporary directories left beside an LMDB target by packs that were killed (SIGKILL).

:class:`~hat.data.pack_type.lmdb.LmdbWriter` writes ``<target>.tmp-<pid>`` and, when replacing a
target, moves the old one to ``<target>.old-<pid>`` for a moment. A process killed outright
cannot remove them; the next pack of the same target does, when the process named by ``<pid>``
is gone. A ``.old-<pid>`` directory is the only copy of the previous LMDB when the target itself
is missing: it is then kept and reported.
"""

from __future__ import annotations

import logging
import os
import re
import shutil

__all__ = ["remove_dead_leftovers", "pid_alive"]

logger = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists (possibly another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_leftovers(target: str) -> list[str]:
    """Remove ``<target>.tmp-<pid>`` / ``.old-<pid>`` of dead processes; return the removed
    paths. Each removal, and each leftover kept, is logged as a warning."""
    parent, name = os.path.split(os.path.abspath(target))
    pattern = re.compile(re.escape(name) + r"\.(tmp|old)-(\d+)")
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    removed = []
    for entry in sorted(entries):
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        kind, pid = match.group(1), int(match.group(2))
        path = os.path.join(parent, entry)
        if pid == os.getpid() or pid_alive(pid):
            logger.warning("%s: left by process %d, which is still running; not removed", path, pid)
            continue
        if kind == "old" and not os.path.lexists(target):
            logger.warning(
                "%s: the previous LMDB of %s, whose replacement was interrupted; kept (rename it "
                "back to %s to use it)", path, target, target,
            )  # fmt: skip
            continue
        what = "an unfinished pack" if kind == "tmp" else "a replaced LMDB"
        shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.remove(path)
        logger.warning("removed %s: %s left by process %d, which was killed", path, what, pid)
        removed.append(path)
    return removed
