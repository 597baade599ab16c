"""An ordered map over spawned worker processes that always stops cleanly.

``multiprocessing.Pool`` keeps three handler threads in the parent; its ``terminate()`` (run by
``with Pool(...)`` on any error) can hang forever when its task thread is blocked feeding the
input queue at that moment. :class:`ProcessMap` has no threads: the parent deals chunks of
items round-robin to its workers over one pipe each, keeps at most ``depth`` chunks in flight
per worker, and reads the results back in item order. On any exit (end, error in a worker or
in the consumer, Ctrl-C, SIGTERM) the workers are told to stop or are killed, and joined.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["ProcessMap", "RemoteTraceback", "WorkerDiedError"]

_STOP_JOIN_S = 5.0


class RemoteTraceback(Exception):
    """The worker-side traceback, chained as ``__cause__`` of an exception raised in a worker."""

    def __str__(self) -> str:
        return str(self.args[0])


class WorkerDiedError(RuntimeError):
    """A worker process ended without answering (killed, out of memory, crashed)."""


def _worker_main(fn: Callable[[Any], Any], conn: Connection) -> None:
    # Ctrl-C reaches every process of the terminal's group: only the parent handles it (it
    # stops the workers and cleans up); the workers would each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        try:
            reply: tuple[bool, Any] = (True, [fn(item) for item in chunk])
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            reply = (False, _portable_exception(exc))
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - an unpicklable result
            conn.send((False, _portable_exception(exc)))


def _portable_exception(exc: BaseException) -> tuple[BaseException, str]:
    """``exc`` (or a RuntimeError naming it when it does not pickle) and its traceback text."""
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any pickling failure
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc, text


class ProcessMap:
    """``fn`` over ``items`` in ``num_workers`` spawned processes, results in item order.

    Use as a context manager and iterate it::

        with ProcessMap(load, samples, num_workers=4, chunksize=8) as results:
            for value in results:
                ...

    ``fn`` and the items must pickle (a module-level function or a ``functools.partial`` of
    one). An exception raised by ``fn`` is raised again in the parent, with the worker's
    traceback as its ``__cause__``; a worker that dies raises :class:`WorkerDiedError`.

    Args:
        fn: applied to each item.
        items: a sequence (``len`` gives the progress total) or any iterable.
        num_workers: worker processes (at least 1).
        chunksize: items sent to a worker at once.
        depth: chunks in flight per worker (more hides latency, costs memory).
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        num_workers: int,
        chunksize: int = 1,
        depth: int = 2,
    ) -> None:
        if num_workers < 1 or chunksize < 1 or depth < 1:
            raise ValueError(
                f"num_workers, chunksize and depth must be >= 1, got {num_workers}, "
                f"{chunksize}, {depth}"
            )
        self._fn = fn
        self._items = items
        self._num_workers = num_workers
        self._chunksize = chunksize
        self._depth = depth
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        self._started = False

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]

    def __enter__(self) -> ProcessMap:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(kill=exc_type is not None)

    def __iter__(self) -> Iterator[Any]:
        if self._started:
            raise RuntimeError("a ProcessMap is iterated once")
        self._started = True
        chunks = _chunked(self._items, self._chunksize)
        first = list(islice(chunks, self._num_workers * self._depth))
        if not first:
            return
        self._start(min(self._num_workers, len(first)))
        n = len(self._conns)
        sent = 0
        for chunk in first:
            self._send(sent % n, chunk)
            sent += 1
        received = 0
        while received < sent:
            worker = received % n
            yield from self._receive(worker)
            received += 1
            nxt = next(chunks, None)
            if nxt is not None:
                # Chunk ``sent`` belongs to worker ``sent % n``, which is ``worker``: every
                # worker keeps ``depth`` chunks in flight and the order stays round-robin.
                self._send(sent % n, nxt)
                sent += 1
        self.close(kill=False)

    def _start(self, n: int) -> None:
        ctx = mp.get_context("spawn")
        for _ in range(n):
            parent_conn, child_conn = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=_worker_main, args=(self._fn, child_conn), daemon=True)
            proc.start()
            child_conn.close()  # the parent keeps only its end: a dead worker reads as EOF
            self._procs.append(proc)
            self._conns.append(parent_conn)

    def _send(self, worker: int, chunk: list[Any]) -> None:
        try:
            self._conns[worker].send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            # The worker died; the results it sent before are still in the pipe, and reading
            # past them at this chunk's turn raises WorkerDiedError in item order.
            pass

    def _receive(self, worker: int) -> Sequence[Any]:
        try:
            ok, payload = self._conns[worker].recv()
        except (EOFError, OSError):
            proc = self._procs[worker]
            proc.join(1.0)
            raise WorkerDiedError(
                f"worker process {proc.pid} ended without answering (exit code {proc.exitcode})"
            ) from None
        if ok:
            return payload
        exc, text = payload
        raise exc from RemoteTraceback(text)

    def close(self, kill: bool = True) -> None:
        """Stop the workers: ask them to finish (``kill=False``) or kill them; join all."""
        for conn in self._conns:
            if not kill:
                try:
                    conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        for proc in self._procs:
            if kill:
                proc.kill()
            proc.join(_STOP_JOIN_S)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._procs.clear()
        self._conns.clear()


def _chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
