"""Atomic file writes: a temp file beside the target, fsync, then ``os.replace``.

* A crash or kill at any moment leaves either the old file or the complete new one.
* Temp files are named ``.{name}.{pid}@{host}.{token}.tmp``: :func:`remove_stale_temp_files`
  removes those whose writer (a process of this host) is dead, e.g. after a SIGKILL during a
  save, and leaves a live writer's file alone.
* New files get mode ``0o666`` minus the umask, like ``open(path, "w")``.
* Any ``OSError`` (read-only folder, disk full, permission) becomes :class:`FileWriteError`,
  whose message names the final path and the cause (never the temp file).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable
from typing import IO

from hat.errors import UserInputError

__all__ = [
    "atomic_write",
    "atomic_copy",
    "FileWriteError",
    "temp_path_for",
    "remove_stale_temp_files",
    "TEMP_NAME",
]

# .{name}.{pid}@{host}.{token}.tmp
TEMP_NAME = re.compile(
    r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9._-]+)\.[0-9a-f]{8}\.tmp$"
)


class FileWriteError(UserInputError, OSError):
    """A file could not be written; the message names the final path and the cause."""

    def __init__(self, path: str, cause: OSError) -> None:
        reason = cause.strerror or str(cause) or type(cause).__name__
        if cause.filename and os.path.basename(str(cause.filename)).startswith("."):
            extra = ""  # our temp file: the final path says it all
        elif cause.filename and os.fspath(cause.filename) != path:
            extra = f" ({cause.filename})"
        else:
            extra = ""
        super().__init__(f"cannot write {path}: {reason}{extra}")
        self.path = path
        self.cause = cause
        self.errno = cause.errno  # type: ignore[misc]

    def __str__(self) -> str:
        return str(self.args[0])


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


def temp_path_for(path: str) -> str:
    """A fresh temp path beside ``path`` carrying this process's pid and host."""
    directory, name = os.path.split(os.path.abspath(path))
    token = secrets.token_hex(4)
    return os.path.join(directory, f".{name}.{os.getpid()}@{_host()}.{token}.tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Create or replace ``path`` with what ``write(file)`` writes, all or nothing.

    The data goes to a temp file in the same directory (so ``os.replace`` is a rename on one
    filesystem); on any error the temp file is removed and the previous ``path`` is untouched.
    ``OSError`` s become :class:`FileWriteError`; other errors of ``write`` pass unchanged.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp: str | None = None
    try:
        os.makedirs(directory, exist_ok=True)
        tmp = temp_path_for(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(directory)
    except OSError as exc:
        if tmp is not None:
            _remove_quietly(tmp)
        if isinstance(exc, FileWriteError):
            raise
        raise FileWriteError(path, exc) from exc
    except BaseException:
        if tmp is not None:
            _remove_quietly(tmp)
        raise


def atomic_copy(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` atomically (``dst`` is either the old file or a full copy)."""

    def _copy(f: IO[bytes]) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, length=16 << 20)

    atomic_write(dst, _copy)


def remove_stale_temp_files(directory: str) -> tuple[list[str], list[str]]:
    """Remove the temp files of :func:`atomic_write` in ``directory`` whose writer is dead.

    Only names of our own pattern are considered; a file written by a process of another host
    is never removed (its writer cannot be checked from here). Returns ``(removed, foreign)``
    file names.
    """
    removed: list[str] = []
    foreign: list[str] = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return removed, foreign
    host = _host()
    for name in names:
        match = TEMP_NAME.match(name)
        if match is None:
            continue
        if match["host"] != host:
            foreign.append(name)
            continue
        if _process_alive(int(match["pid"])):
            continue
        if _remove_quietly(os.path.join(directory, name)):
            removed.append(name)
    return removed, foreign


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a killed process not yet reaped by its parent is a zombie: it writes nothing
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[-1].split()[0]
        return state != b"Z"
    except (OSError, IndexError):
        return True


def _remove_quietly(path: str) -> bool:
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
