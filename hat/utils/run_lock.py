"""One training at a time per output folder: an exclusive lock on ``<dir>/.hat-train.lock``.

:class:`RunLock` takes a POSIX record lock (``fcntl.lockf``; ``msvcrt.locking`` on Windows) on the
lock file without waiting and keeps it until :meth:`RunLock.release` or the end of the process.
The kernel drops the lock when the process dies, however it dies, so a killed run never leaves a
stale lock behind: the file stays, the lock does not. A record lock, unlike ``flock``, is not
inherited by forked children (data-loader workers), so it ends exactly with the holder.

The holder writes who it is into the file (pid, host, start time, stage, command); a refused run
names it::

    with RunLock("/ckpt/task", stage="float"):   # RunLockBusyError if another run holds it
        train()

Only writers lock: tools that read checkpoints (predict, export) neither take nor check it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any

from hat.errors import UserInputError

__all__ = ["RunLock", "RunLockBusyError", "LOCK_NAME"]

LOCK_NAME = ".hat-train.lock"

# Directories locked by this process: POSIX record locks are per process, so a second RunLock on
# the same file in the same process would succeed silently; refuse it here instead.
_HELD: set[str] = set()


class RunLockBusyError(UserInputError):
    """Another run holds the lock of the folder."""


class RunLock:
    """Exclusive lock of ``directory`` for one run (see module docstring).

    Args:
        directory: the folder to lock (created when missing).
        stage: written into the lock file so a refused run can say what holds it.
        wait_s: when the lock is taken but its recorded holder is a process of this host that no
            longer exists (its forked children may still be closing), retry for up to this many
            seconds before giving up.
    """

    def __init__(self, directory: str, stage: str = "", wait_s: float = 10.0) -> None:
        self.directory = os.path.abspath(directory)
        self.path = os.path.join(self.directory, LOCK_NAME)
        self.stage = stage
        self.wait_s = wait_s
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLockBusyError` naming the holder."""
        if self.directory in _HELD:
            raise RunLockBusyError(f"{self.directory} is already locked by this process")
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UserInputError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}"
            ) from None
        deadline = time.monotonic() + self.wait_s
        while not _try_lock(fd):
            holder = _read_holder(self.path)
            if _holder_is_gone(holder) and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            os.close(fd)
            raise RunLockBusyError(
                f"{self.directory} is in use by another training ({_describe(holder)}); "
                "wait for it to end or use another ckpt_dir"
            )
        self._fd = fd
        _HELD.add(self.directory)
        self._write_holder()
        return self

    def release(self) -> None:
        """Drop the lock (the file stays: removing it could race with a run opening it)."""
        if self._fd is None:
            return
        _unlock(self._fd)
        os.close(self._fd)
        self._fd = None
        _HELD.discard(self.directory)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _write_holder(self) -> None:
        assert self._fd is not None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "stage": self.stage,
            "command": " ".join(sys.argv),
        }
        data = (json.dumps(info) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError / PermissionError: held by another process
        return False
    return True


def _unlock(fd: int) -> None:
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.lockf(fd, fcntl.LOCK_UN)


def _read_holder(path: str) -> dict[str, Any]:
    # Opened and closed only by a process that does NOT hold the lock: closing any descriptor of
    # the file drops the POSIX locks a process holds on it.
    try:
        with open(path, encoding="utf-8") as f:
            info = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _holder_is_gone(holder: dict[str, Any]) -> bool:
    """True when the holder is recorded as a process of this host that no longer exists."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or holder.get("host") != socket.gethostname() or os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _describe(holder: dict[str, Any]) -> str:
    if not holder.get("pid"):
        return "holder unknown"
    parts = [f"pid {holder['pid']}"]
    if holder.get("host"):
        parts[0] += f" on {holder['host']}"
    if holder.get("stage"):
        parts.append(f"stage {holder['stage']}")
    if holder.get("started"):
        parts.append(f"started {holder['started']}")
    return ", ".join(parts)
