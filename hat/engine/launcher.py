"""Start one training process per device: torchrun environment or local spawn.

* Under ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK set) the process group is initialised from the
  environment (nccl with CUDA, gloo otherwise); torchrun's agent watches the ranks.
* ``--device-ids a,b,...`` spawns one process per id with ``torch.multiprocessing``, on a free
  localhost port. With CUDA, ``CUDA_VISIBLE_DEVICES`` is set to the ids so process ``i`` uses
  ``cuda:i``; on CPU the ids only give the process count (gloo), and each process gets
  ``cpu_count / world_size`` threads.

The spawned ranks live and die together, as under torchrun's agent:

* a rank dies with the launcher, however the launcher dies (SIGKILL included; see
  :func:`hat.utils.parent_watch.die_with_parent`);
* when one rank fails, the launcher stops the others at once: SIGTERM, then SIGKILL after
  ``stop_grace_s`` seconds, and reports the first failure as one line;
* Ctrl-C or SIGTERM of the launcher stops the ranks the same way before the launcher exits;
* a rank handles SIGTERM like Ctrl-C (:mod:`hat.utils.termination`).
"""

from __future__ import annotations

import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.multiprocessing as mp

from hat.utils.distributed import find_free_port, init_process_group_from_env
from hat.utils.parent_watch import die_with_parent
from hat.utils.termination import exit_stopped_rank, handle_sigterm

__all__ = ["spawn_local", "init_distributed_if_launched", "SpawnedWorkerFailed"]


class SpawnedWorkerFailed(Exception):
    """A spawned worker exited with an error (its own message was printed already)."""


def init_distributed_if_launched() -> bool:
    """Create the process group when a launcher exported RANK/WORLD_SIZE; True if created."""
    if all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        if int(os.environ["WORLD_SIZE"]) > 1:
            init_process_group_from_env()
            return True
    return False


def spawn_local(
    worker: Callable[..., Any],
    device_ids: list[int],
    args: tuple = (),
    stop_grace_s: float = 10.0,
) -> None:
    """Run ``worker(*args)`` in ``len(device_ids)`` processes forming one process group; return
    when all succeeded. A failed rank stops the others (see module docstring) and raises
    :class:`SpawnedWorkerFailed` (or ``ProcessRaisedException`` with the rank's traceback)."""
    world_size = len(device_ids)
    if torch.cuda.is_available():
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in device_ids)
    port = find_free_port()
    context = mp.start_processes(
        _entry,
        args=(world_size, port, os.getpid(), worker, args),
        nprocs=world_size,
        join=False,
        start_method="spawn",
    )
    try:
        failed = _wait_for_all(context)
    except BaseException:  # Ctrl-C / SIGTERM of the launcher: take the ranks down first
        _stop(context.processes, stop_grace_s)
        raise
    if failed is not None:
        _stop(context.processes, stop_grace_s)
        raise _failure(context, failed)


def _wait_for_all(context: Any) -> int | None:
    """Block until every process ended (None) or one failed: its index. Of several that ended
    together, the one most likely to be the cause: killed by a signal, else one that exited with
    its own message, before one that raised (a peer's exit breaks the collectives of the rest)."""
    processes = context.processes
    while True:
        codes = [p.exitcode for p in processes]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            raised = {i for i in failed if os.access(context.error_files[i], os.R_OK)}
            return min(failed, key=lambda i: (codes[i] >= 0, i in raised, i))
        alive = [p.sentinel for p, code in zip(processes, codes, strict=True) if code is None]
        if not alive:
            return None
        multiprocessing.connection.wait(alive)


def _stop(processes: Sequence[Any], grace_s: float) -> None:
    """SIGTERM the live processes, wait up to ``grace_s`` seconds, SIGKILL what is left."""
    for process in processes:
        if process.exitcode is None:
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.exitcode is None:
            process.kill()
        process.join()


def _failure(context: Any, index: int) -> Exception:
    process = context.processes[index]
    error_file = context.error_files[index]
    if os.access(error_file, os.R_OK):  # the rank raised: keep its traceback (a bug, not input)
        import pickle

        with open(error_file, "rb") as f:
            trace = pickle.load(f)
        return mp.ProcessRaisedException(
            f"\n\n-- process of rank {index} raised:\n{trace}", index, process.pid
        )
    code = process.exitcode
    how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
    return SpawnedWorkerFailed(f"process of rank {index} {how}")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _entry(
    local_rank: int,
    world_size: int,
    port: int,
    launcher_pid: int,
    worker: Callable[..., Any],
    args: tuple,
) -> None:
    die_with_parent(launcher_pid)
    handle_sigterm()
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    try:
        worker(*args)
    except SystemExit as exc:  # the tools end with sys.exit(code); a message was printed
        _exit_rank(exc.code if isinstance(exc.code, int) else int(exc.code is not None))
    _exit_rank(0)


def _exit_rank(code: int) -> None:
    """End a spawned rank whose work is over without the interpreter's exit: the C++
    destructors of a process group whose peer already left can abort the process ("terminate
    called without an active exception") after the work succeeded. Logs and streams are
    flushed first; the run's files were closed by the work itself."""
    import logging

    logging.shutdown()
    exit_stopped_rank(code)
