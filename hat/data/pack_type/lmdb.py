"""LMDB storage with HAT's key conventions and msgpack values.

- keys: the ASCII decimal sample index (``b"0"``, ``b"1"``, ...) plus ``b"__len__"`` = count;
- values: ``msgpack.packb(obj)`` (never pickle); a map gets a leading ``"crc32"`` entry over
  the rest of the value (:mod:`hat.data.pack_type.record_checksum`).

:class:`LmdbWriter` builds the database in ``<target>.tmp-<pid>`` beside the target and renames
it into place only when complete; on any error (and on Ctrl-C / SIGTERM) the temporary directory
is removed, so a target either holds a complete LMDB or nothing new. A process killed outright
(SIGKILL) leaves its temporary directory: the next pack of the same target removes it
(:mod:`hat.data.pack_type.leftovers`).

:class:`LmdbReader` opens lazily, once per process (safe in forked or spawned DataLoader workers);
readers of one LMDB share a handle. Opening checks that the data file is as long as the LMDB's
last page needs (a truncated copy would otherwise crash with a bus error at the first read
beyond its end), and the reader reads ``__len__`` and the first and last records. Each record's
CRC-32 is verified the first time it is read (``verify="once"``: a shared flag per record, so
DataLoader workers verify each record once per run), and any damage found names the file and
the key (:class:`~hat.data.errors.CorruptFileError`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lmdb
import msgpack
import numpy as np
import torch

from hat.data.errors import CorruptFileError
from hat.data.pack_type.leftovers import remove_dead_leftovers
from hat.data.pack_type.lmdb_check import check_data_file_size
from hat.data.pack_type.msgpack_view import unpackb_view
from hat.data.pack_type.record_checksum import CRC_KEY, pack_with_crc, verify_crc

__all__ = ["LEN_KEY", "VERIFY_MODES", "LmdbReader", "LmdbWriter", "index_key", "shared_env"]

LEN_KEY = b"__len__"
_WRITE_MAP_SIZE = 1 << 40  # 1 TiB of address space; the file only grows as data is written
_READ_MAP_SIZE = 10 << 20  # read-only envs map the whole file whatever this says
VERIFY_MODES = ("once", "always", "never")


def index_key(idx: int) -> bytes:
    """The LMDB key of sample ``idx``: its ASCII decimal form."""
    return str(int(idx)).encode("ascii")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


class LmdbWriter:
    """Write samples ``0..N-1`` in order into a new LMDB directory at ``path``.

    Use as a context manager::

        with LmdbWriter(path) as w:
            for obj in samples:
                w.append(obj)          # msgpack-serialisable object

    Args:
        path: target directory (must not exist unless ``overwrite``).
        overwrite: replace an existing target (the old one is removed only after the new one
            is complete).
        commit_every: puts per write transaction.
    """

    def __init__(
        self, path: str | os.PathLike, overwrite: bool = False, commit_every: int = 64
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.overwrite = overwrite
        self.commit_every = max(1, int(commit_every))
        self.tmp_path = f"{self.path}.tmp-{os.getpid()}"
        self._env: lmdb.Environment | None = None
        self._txn: lmdb.Transaction | None = None
        self._count = 0
        self._pending = 0

    def __len__(self) -> int:
        return self._count

    def open(self) -> LmdbWriter:
        if os.path.lexists(self.path) and not self.overwrite:
            raise FileExistsError(
                f"{self.path} already exists; refusing to overwrite it (pass overwrite=True / "
                "--overwrite, or choose another target)"
            )
        parent = os.path.dirname(self.path)
        if not os.path.isdir(parent):
            raise FileNotFoundError(f"parent directory of the LMDB target does not exist: {parent}")
        remove_dead_leftovers(self.path)
        _remove(self.tmp_path)
        os.makedirs(self.tmp_path)
        try:
            self._env = lmdb.open(
                self.tmp_path, map_size=_WRITE_MAP_SIZE, meminit=False, map_async=True, sync=False
            )
        except BaseException:
            _remove(self.tmp_path)
            raise
        self._txn = self._env.begin(write=True)
        return self

    def append(self, obj: Any) -> int:
        """Store ``obj`` (msgpack-serialisable; a dict gets the ``"crc32"`` entry, a reserved
        key) under the next index; return that index."""
        if self._txn is None:
            raise RuntimeError("LmdbWriter is not open (use it as a context manager)")
        idx = self._count
        self._txn.put(index_key(idx), pack_with_crc(obj))
        self._count += 1
        self._pending += 1
        if self._pending >= self.commit_every:
            self._txn.commit()
            self._txn = self._env.begin(write=True)
            self._pending = 0
        return idx

    def close(self) -> None:
        """Finish: write ``__len__``, flush, and move the database into place."""
        assert self._env is not None and self._txn is not None
        self._txn.put(LEN_KEY, str(self._count).encode("ascii"))
        self._txn.commit()
        self._txn = None
        self._env.sync(True)
        self._env.close()
        self._env = None
        self._move_into_place()

    def _move_into_place(self) -> None:
        old = None
        if os.path.lexists(self.path):
            if not self.overwrite:
                raise FileExistsError(f"{self.path} appeared while packing; not replacing it")
            old = f"{self.path}.old-{os.getpid()}"
            _remove(old)
            os.rename(self.path, old)
        try:
            os.rename(self.tmp_path, self.path)
        except BaseException:
            if old is not None:
                os.rename(old, self.path)
            raise
        if old is not None:
            _remove(old)

    def abort(self) -> None:
        """Drop everything written so far; nothing is left at the target or beside it."""
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        if self._env is not None:
            self._env.close()
            self._env = None
        _remove(self.tmp_path)

    def __enter__(self) -> LmdbWriter:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            self.abort()
            raise


_SHARED_ENVS: dict[tuple[int, int], lmdb.Environment] = {}
_SHARED_PID = os.getpid()


def _data_file(path: str) -> str:
    return os.path.join(path, "data.mdb") if os.path.isdir(path) else path


def shared_env(path: str) -> lmdb.Environment:
    """A read-only environment for ``path``, shared by every reader of it in this process.

    py-lmdb refuses to open the same files twice in one process, so handles are cached by the
    data file's identity (a rebuilt LMDB at the same path gets a new handle). After a fork the
    inherited handles are closed (which py-lmdb allows in the child) and reopened on demand.
    """
    global _SHARED_PID
    if _SHARED_PID != os.getpid():
        for env in _SHARED_ENVS.values():
            env.close()
        _SHARED_ENVS.clear()
        _SHARED_PID = os.getpid()
    data_file = _data_file(path)
    if not os.path.isfile(data_file):
        raise CorruptFileError(f"{path}: not an LMDB (no data file {data_file})")
    st = os.stat(data_file)
    key = (st.st_dev, st.st_ino)
    env = _SHARED_ENVS.get(key)
    if env is None:
        try:
            env = lmdb.open(
                path,
                subdir=os.path.isdir(path),
                readonly=True,
                lock=False,
                readahead=True,  # values are large and contiguous: let the kernel read ahead
                meminit=False,
                map_size=_READ_MAP_SIZE,
            )
        except lmdb.Error as exc:
            raise CorruptFileError(f"{path}: cannot open as an LMDB: {exc}") from None
        try:
            check_data_file_size(path, data_file, env)
        except BaseException:
            env.close()
            raise
        _SHARED_ENVS[key] = env
    return env


class LmdbReader:
    """Read-only access to an LMDB written with HAT's conventions.

    The environment (``readonly=True, lock=False``) is opened on first use in each process and
    never pickled, so a reader built in the main process works in forked or spawned DataLoader
    workers. Readers of the same LMDB in one process share one handle.

    Args:
        path: the LMDB directory (or data file).
        verify: when to check a record's CRC-32: ``"once"`` (the first read of each record by
            this reader or its copies in DataLoader workers: flags in shared memory),
            ``"always"`` or ``"never"``. Records without a CRC are not checked.
    """

    def __init__(self, path: str | os.PathLike, verify: str = "once") -> None:
        self.path = os.fspath(path)
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify={verify!r}: expected one of {VERIFY_MODES}")
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"LMDB not found: {self.path}")
        self.verify = verify
        self._env: lmdb.Environment | None = None
        self._pid: int | None = None
        self._flags_view: np.ndarray | None = None
        self._len = self._read_len()
        # 1 = CRC verified; shared with DataLoader workers (forked or spawned)
        self._verified = torch.zeros(max(self._len, 1), dtype=torch.uint8).share_memory_()
        self._check_ends()

    @property
    def env(self) -> lmdb.Environment:
        """This process's environment handle (opened on first use)."""
        if self._env is None or self._pid != os.getpid():
            self._env = shared_env(self.path)
            self._pid = os.getpid()
        return self._env

    def _read_len(self) -> int:
        with self.env.begin() as txn:
            raw = txn.get(LEN_KEY)
            entries = int(txn.stat()["entries"])
        if raw is None:
            return entries
        try:
            length = int(raw)
        except ValueError:
            raise CorruptFileError(f"{self.path}: bad {LEN_KEY!r} value {raw[:32]!r}") from None
        if length < 0 or entries < length + 1:
            raise CorruptFileError(
                f"{self.path}: {LEN_KEY!r} says {length} samples but the LMDB holds "
                f"{entries - 1} records besides it: records are missing (an incomplete copy?)"
            )
        return length

    def _check_ends(self) -> None:
        """Read the first and last records (their keys exist, their CRC holds)."""
        for idx in sorted({0, self._len - 1}) if self._len else ():
            self.get_bytes(idx)

    def __len__(self) -> int:
        return self._len

    def keys(self) -> range:
        return range(self._len)

    def _check(self, idx: int) -> None:
        if not 0 <= idx < self._len:
            raise IndexError(f"{self.path}: index {idx} out of range for {self._len} samples")

    def _where(self, idx: int) -> str:
        return f"{self.path}: key {index_key(idx)!r}"

    def _missing(self, idx: int) -> KeyError:
        return KeyError(f"{self.path}: key {index_key(idx)!r} missing (len is {self._len})")

    @contextmanager
    def _raw(self, idx: int) -> Iterator[Any]:
        """The stored value of ``idx`` as a memory-map buffer, CRC-checked (see ``verify``)."""
        self._check(idx)
        try:
            with self.env.begin(buffers=True) as txn:
                raw = txn.get(index_key(idx))
                if raw is None:
                    raise self._missing(idx)
                self._verify(idx, raw)
                yield raw
        except lmdb.Error as exc:
            raise CorruptFileError(f"{self._where(idx)}: LMDB read failed: {exc}") from None

    def _verify(self, idx: int, raw: Any) -> None:
        if self.verify == "never":
            return
        flags = self._flags()
        if self.verify == "once" and flags[idx]:
            return
        checked = verify_crc(raw)
        if checked is not None and checked[0] != checked[1]:
            raise CorruptFileError(
                f"{self._where(idx)}: the value fails its CRC-32 check (stored 0x{checked[0]:08x}, "
                f"computed 0x{checked[1]:08x}): the LMDB is damaged; copy or re-pack it"
            )
        flags[idx] = 1

    def _flags(self) -> np.ndarray:
        if self._flags_view is None:
            self._flags_view = self._verified.numpy()
        return self._flags_view

    def get_bytes(self, idx: int) -> bytes:
        """The raw value stored under index ``idx`` (CRC-checked)."""
        with self._raw(idx) as raw:
            return bytes(raw)

    def __getitem__(self, idx: int) -> Any:
        """The msgpack-decoded value of index ``idx`` (``bin`` fields as ``bytes``)."""
        # decode straight from the memory map: one copy of each payload instead of two
        with self._raw(idx) as raw:
            try:
                value = msgpack.unpackb(raw, raw=False)
            except (ValueError, msgpack.UnpackException) as exc:
                raise self._not_msgpack(idx, exc) from None
        return _without_crc(value)

    @contextmanager
    def view(self, idx: int) -> Iterator[Any]:
        """The msgpack-decoded value of index ``idx`` with no payload copied: every ``bin`` is a
        read-only memoryview of the memory map, valid only inside the ``with`` block::

            with reader.view(i) as value:
                img = np.frombuffer(value["img1"], np.uint8).copy()  # copy what outlives it
        """
        with self._raw(idx) as raw:
            try:
                value = unpackb_view(raw)
            except (ValueError, msgpack.UnpackException) as exc:
                raise self._not_msgpack(idx, exc) from None
            yield _without_crc(value)

    def _not_msgpack(self, idx: int, exc: Exception) -> CorruptFileError:
        return CorruptFileError(
            f"{self.path}: value of key {index_key(idx)!r} is not msgpack: {exc}"
        )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_env"] = None
        state["_pid"] = None
        state["_flags_view"] = None
        return state

    def __repr__(self) -> str:
        return f"LmdbReader({self.path!r}, len={self._len})"


def _without_crc(value: Any) -> Any:
    if isinstance(value, dict):
        value.pop(CRC_KEY, None)
    return value
