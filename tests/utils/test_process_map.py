"""ProcessMap: ordered results, worker errors and deaths raised, workers gone on every exit."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from hat.utils.process_map import ProcessMap, RemoteTraceback, WorkerDiedError


def _square(x: int) -> int:
    return x * x


def _fail_on_seven(x: int) -> int:
    if x == 7:
        raise FileNotFoundError(f"sample {x} is missing")
    return x


class _Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")  # args != constructor signature: does not unpickle


def _raise_unpicklable(x: int) -> int:
    raise _Unpicklable(x, 2)


def _die_on_three(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def _pid(_: int) -> int:
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its state letter says it is gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[-1][0] != "Z"


@pytest.mark.parametrize(
    "num_workers,chunksize,depth", [(1, 1, 1), (2, 1, 2), (3, 4, 2), (2, 5, 3)]
)
def test_results_keep_item_order(num_workers, chunksize, depth):
    items = list(range(37))
    with ProcessMap(_square, items, num_workers, chunksize=chunksize, depth=depth) as results:
        assert len(results) == 37
        assert list(results) == [x * x for x in items]


def test_empty_and_generator_inputs():
    with ProcessMap(_square, [], 2) as results:
        assert list(results) == []
    with ProcessMap(_square, (x for x in range(5)), 2) as results:
        assert list(results) == [0, 1, 4, 9, 16]


def test_worker_exception_is_raised_with_its_traceback():
    with pytest.raises(FileNotFoundError, match="sample 7 is missing") as info:
        with ProcessMap(_fail_on_seven, range(20), 2, chunksize=2) as results:
            list(results)
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "_fail_on_seven" in str(info.value.__cause__)


def test_unpicklable_exception_becomes_a_runtime_error_naming_it():
    with pytest.raises(RuntimeError, match=r"_Unpicklable: 0/2"):
        with ProcessMap(_raise_unpicklable, range(4), 2) as results:
            list(results)


def test_dead_worker_is_reported():
    with pytest.raises(WorkerDiedError, match=r"exit code -9"):
        with ProcessMap(_die_on_three, range(10), 2) as results:
            list(results)


def test_workers_are_gone_after_errors_and_early_exits():
    # Repeated failures while the parent is still feeding chunks: the case where
    # multiprocessing.Pool.terminate() could hang. Each round must end, with no worker left.
    deadline = threading.Timer(120, lambda: os.kill(os.getpid(), signal.SIGABRT))
    deadline.start()
    try:
        for _ in range(15):
            with pytest.raises(FileNotFoundError):
                with ProcessMap(_fail_on_seven, range(200), 2) as results:
                    list(results)
        pids = set()
        with pytest.raises(KeyError):
            with ProcessMap(_pid, range(100), 2) as results:
                for pid in results:
                    pids.add(pid)
                    raise KeyError("consumer fails")
        with ProcessMap(_pid, range(8), 2) as results:
            pids.update(results)
    finally:
        deadline.cancel()
    assert len(pids) >= 2
    assert not [pid for pid in pids if _alive(pid)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_workers, chunksize and depth must be >= 1"):
        ProcessMap(_square, [1], 0)
    results = ProcessMap(_square, [1, 2], 1)
    with results:
        assert list(results) == [1, 4]
        with pytest.raises(RuntimeError, match="iterated once"):
            list(results)
