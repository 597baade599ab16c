"""The ``--device-ids 0,1`` launcher and its ranks live and die together (gloo on CPU).

* ``kill -9`` of the launcher: both ranks are gone within seconds and write nothing more.
* ``kill -9`` of one rank: the other rank stops, the launcher exits non-zero with one line.
* SIGTERM of the launcher: handled like Ctrl-C, one line, exit code 143, ranks gone, the last
  checkpoint complete.

The launcher is started with SIGINT ignored, as a shell starts a background job (``cmd &``): the
ranks cannot count on SIGINT reaching them. Rank processes are found through ``/proc`` (Linux).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from engine_test_helpers import REPO, TOY_CONFIG, opts

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds the rank processes through /proc"
)


def start_ddp_training(tmp_path, **values) -> subprocess.Popen:
    """A long 2-rank toy training (it runs until killed), checkpointing every 2 steps."""
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    args = dict(
        ckpt_dir=str(tmp_path / "ckpt"),
        record_path=str(tmp_path / "steps.jsonl"),
        max_epoch=10_000,
        ckpt_interval_steps=2,
    )
    args.update(values)
    return subprocess.Popen(
        [sys.executable, os.path.join(REPO, "tools", "train.py"), "--config", TOY_CONFIG,
         "--device-ids", "0,1", *opts(**args)],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip


def rank_pids(launcher_pid: int) -> list[int]:
    """The launcher's spawned rank processes (children running ``spawn_main``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == launcher_pid and b"spawn_main" in cmdline:
            pids.append(int(entry))
    return sorted(pids)


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, timeout: float, what: str) -> float:
    """Poll ``condition`` until true; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def wait_for_training(proc: subprocess.Popen, tmp_path, steps: int = 4) -> list[int]:
    """Wait until both ranks train (rank 0 records a step only after the step's collectives with
    rank 1) and a checkpoint exists; return the rank pids."""
    record = tmp_path / "steps.jsonl"

    def training() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.communicate()}")
        return record.exists() and len(record.read_text().splitlines()) >= steps

    wait_until(training, 120, "both ranks training")
    wait_until(lambda: (tmp_path / "ckpt" / "float-checkpoint-last.pth.tar").exists(), 30, "ckpt")
    pids = rank_pids(proc.pid)
    assert len(pids) == 2, pids
    return pids


def cleanup(proc: subprocess.Popen, ranks: list[int]) -> None:
    """Kill what a failed test may have left running."""
    for pid in set(ranks) | set(rank_pids(proc.pid)):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def snapshot(folder) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def test_kill_9_of_the_launcher_takes_both_ranks_down(tmp_path):
    proc, ranks = start_ddp_training(tmp_path), []
    try:
        ranks = wait_for_training(proc, tmp_path)
        proc.kill()
        proc.wait()
        took = wait_until(lambda: not any(alive(p) for p in ranks), 5, "ranks gone")
        print(f"ranks gone {took:.2f} s after the launcher's SIGKILL")
        before = snapshot(tmp_path / "ckpt")
        steps = (tmp_path / "steps.jsonl").read_text()
        time.sleep(1.5)  # anything still training would step and checkpoint (every 2 steps)
        assert snapshot(tmp_path / "ckpt") == before
        assert (tmp_path / "steps.jsonl").read_text() == steps
        state = torch.load(tmp_path / "ckpt" / "float-checkpoint-last.pth.tar", weights_only=True)
        assert state["step"] >= 2
    finally:
        cleanup(proc, ranks)


def test_kill_9_of_one_rank_stops_the_other_and_the_launcher_says_so(tmp_path):
    proc, ranks = start_ddp_training(tmp_path), []
    try:
        ranks = wait_for_training(proc, tmp_path)
        victim, other = ranks
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert not alive(other)
        assert proc.returncode == 1
        assert "Traceback" not in err, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith("hat-train: error: process of rank ")
        assert "was killed by SIGKILL" in lines[0]
    finally:
        cleanup(proc, ranks)


def test_sigterm_of_the_launcher_is_handled_like_ctrl_c(tmp_path):
    proc, ranks = start_ddp_training(tmp_path), []
    try:
        ranks = wait_for_training(proc, tmp_path)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM
        assert "Traceback" not in err, err
        assert [line for line in err.splitlines() if line.strip()] == [
            "hat-train: terminated by SIGTERM"
        ]
        assert not any(alive(p) for p in ranks)
        ckpt = tmp_path / "ckpt"
        assert not [p.name for p in ckpt.iterdir() if p.name.endswith(".tmp")]
        state = torch.load(ckpt / "float-checkpoint-last.pth.tar", weights_only=True)
        assert state["step"] >= 2 and state["meta"]["world_size"] == 2
    finally:
        cleanup(proc, ranks)


def test_sigterm_ends_a_process_stuck_in_a_rendezvous_after_the_grace_period(tmp_path):
    """A rank blocked in C++ (here: waiting for a peer that never comes) cannot run the Python
    handler; the watch thread ends it ``force_after_s`` after SIGTERM, with the same code."""
    code = (
        "import datetime, sys, torch.distributed as dist\n"
        "from hat.utils.distributed import find_free_port\n"
        "from hat.utils.termination import handle_sigterm\n"
        "handle_sigterm(force_after_s=1.0, prog='probe')\n"
        "print('ready', flush=True)\n"
        "dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{find_free_port()}',\n"
        "                        rank=0, world_size=2, timeout=datetime.timedelta(seconds=120))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # inside init_process_group by now
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - start
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "probe: terminated by SIGTERM (no clean exit within 1 s)" in err
        assert 0.9 < took < 10, took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
