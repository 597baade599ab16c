"""A packer killed mid-pack: SIGTERM and Ctrl-C remove the temporary LMDB and print one line;
SIGKILL leaves it, and the next pack of the same target removes it (only if its process is
dead) and says so.

"Mid-pack" is made exact with a FIFO in place of one pair's ``.flo`` file: the packer has
written the pairs before it and blocks reading it until the test opens the FIFO's other end.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from hat.data.pack_type.lmdb import LmdbReader
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKER = os.path.join(REPO, "tools", "datasets", "flyingchairs_packer.py")
BLOCKED_PAIR = 5  # index in the train split of the pair whose .flo is a FIFO


def _packer(root: str, target: str, num_workers: int) -> subprocess.Popen:
    args = ["--src-data-dir", root, "--split-name", "train", "--target-data-dir", target]
    return subprocess.Popen(
        [sys.executable, PACKER, *args, "--num-workers", str(num_workers)],
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        # A process started from a background job inherits SIGINT ignored; the packer is
        # started as from a terminal, where Ctrl-C reaches it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _block_on_fifo(root: str, tmp_path) -> tuple[str, str]:
    """Replace the blocked pair's .flo by a FIFO; return (fifo path, saved real file)."""
    layout = FlyingChairsLayout(root)
    flo = layout.pair_paths(layout.pair_ids("train")[BLOCKED_PAIR])[2]
    saved = str(tmp_path / "saved.flo")
    shutil.move(flo, saved)
    os.mkfifo(flo)
    return flo, saved


def _wait_until_reading(fifo: str, proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """Open the FIFO's write end once the packer (or its worker) has it open for reading; the
    reader then blocks in read() until this end is closed. Returns the fd."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the packer never reached the blocked pair")


def _leftovers(target: str) -> list[str]:
    parent, name = os.path.split(target)
    return sorted(e for e in os.listdir(parent) if e.startswith(name + "."))


def _message_lines(stderr: str) -> list[str]:
    """stderr without the progress bar's lines."""
    lines = (line.split("\r")[-1] for line in stderr.splitlines())
    return [line for line in lines if line.strip() and "pack train ->" not in line]


def test_sigkilled_pack_leftover_is_removed_by_the_next_pack(chairs_copy, tmp_path):
    target = str(tmp_path / "out" / "train_lmdb")
    fifo, saved = _block_on_fifo(chairs_copy, tmp_path)
    proc = _packer(chairs_copy, target, num_workers=0)
    fd = _wait_until_reading(fifo, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    os.close(fd)
    assert proc.returncode == -signal.SIGKILL
    assert _leftovers(target) == [f"train_lmdb.tmp-{proc.pid}"] and not os.path.exists(target)

    os.remove(fifo)
    shutil.move(saved, fifo)
    alive = f"{target}.tmp-{os.getpid()}"  # a pack still running (this process) is left alone
    os.makedirs(alive)
    rerun = _packer(chairs_copy, target, num_workers=0)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert "packed 8 train pairs" in out
    assert (
        f"removed {target}.tmp-{proc.pid}: an unfinished pack left by process {proc.pid}, "
        "which was killed"
    ) in _message_lines(err)
    assert f"{alive}: left by process {os.getpid()}, which is still running; not removed" in err
    assert _leftovers(target) == [f"train_lmdb.tmp-{os.getpid()}"]
    assert len(LmdbReader(target)) == 8


@pytest.mark.parametrize(
    "signum, num_workers, line",
    [
        (signal.SIGTERM, 0, "terminated by SIGTERM: nothing was written to the target"),
        (signal.SIGTERM, 2, "terminated by SIGTERM: nothing was written to the target"),
        (signal.SIGINT, 0, "interrupted: nothing was written to the target"),
    ],
)
def test_sigterm_and_ctrl_c_remove_the_temporary_lmdb_and_print_one_line(
    chairs_copy, tmp_path, signum, num_workers, line
):
    target = str(tmp_path / "out" / "train_lmdb")
    fifo, _ = _block_on_fifo(chairs_copy, tmp_path)
    proc = _packer(chairs_copy, target, num_workers=num_workers)
    fd = _wait_until_reading(fifo, proc)
    assert _leftovers(target) == [f"train_lmdb.tmp-{proc.pid}"]  # mid-pack
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert _message_lines(err) == [line]
    assert _leftovers(target) == [] and not os.path.exists(target)
