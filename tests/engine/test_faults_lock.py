"""One training at a time per ckpt_dir, and no silent start-over on a stage's checkpoints.

* A second training into a ckpt_dir in use is refused at once, naming the holder; the first
  run's files are untouched and predict still reads them.
* A run killed with SIGKILL leaves no lock behind: the next run starts.
* A rerun without ``--resume`` into a folder with checkpoints of the stage is refused;
  ``--resume`` continues them, ``--overwrite`` starts over (the same weights as a fresh run);
  another stage in the same folder is not refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch
from engine_test_helpers import REPO, TOY_CONFIG, load_weights, opts, run_tool

from hat.utils.run_config import RunConfig
from hat.utils.run_lock import LOCK_NAME, RunLock, RunLockBusyError
from hat.utils.stage_outputs import checkpoint_places


def one_line_error(result) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def snapshot(folder) -> dict[str, tuple[int, int]]:
    """Name -> (mtime, size) of the files a run writes (the lock file aside)."""
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_size)
        for p in folder.iterdir()
        if p.name != LOCK_NAME
    }


def test_second_training_into_a_busy_ckpt_dir_is_refused_at_once(tmp_path):
    ckpt, record = tmp_path / "ckpt", tmp_path / "steps.jsonl"
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
    first = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "tools", "train.py"), "--config", TOY_CONFIG,
         *opts(ckpt_dir=str(ckpt), record_path=str(record), max_epoch=10_000)],
        cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (ckpt / "float-checkpoint-last.pth.tar").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "first training did not checkpoint"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGSTOP)  # hold still (and keep the lock) while we look
        before = snapshot(ckpt)

        start = time.monotonic()
        second = run_tool(
            "train", "--config", TOY_CONFIG,
            *opts(ckpt_dir=str(ckpt), record_path=str(tmp_path / "second.jsonl")),
            cwd=str(tmp_path),
        )  # fmt: skip
        took = time.monotonic() - start
        line = one_line_error(second)
        assert line.startswith(f"hat-train: error: {ckpt} is in use by another training (pid ")
        assert f"pid {first.pid} on " in line and "stage float" in line, line
        assert took < 20, took  # refused before building anything (process start-up dominates)
        assert snapshot(ckpt) == before
        assert not (tmp_path / "second.jsonl").exists()

        # Readers do not lock: predict evaluates the busy folder's checkpoint.
        last = str(ckpt / "float-checkpoint-last.pth.tar")
        predicted = run_tool(
            "predict", "--config", TOY_CONFIG, "--ckpt", last, *opts(ckpt_dir=str(ckpt)),
            cwd=str(tmp_path),
        )  # fmt: skip
        assert predicted.returncode == 0, predicted.stderr
        assert json.loads((ckpt / "float-metrics.json").read_text())["mse"] > 0

        os.kill(first.pid, signal.SIGCONT)
        os.kill(first.pid, signal.SIGTERM)
        _, err = first.communicate(timeout=30)
        assert first.returncode == 128 + signal.SIGTERM, err
        assert err.strip().splitlines() == ["hat-train: terminated by SIGTERM"], err
        assert not [p for p in os.listdir(ckpt) if p.endswith(".tmp")]
        state = torch.load(ckpt / "float-checkpoint-last.pth.tar", weights_only=True)
        assert state["step"] >= 2
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGCONT)
            first.kill()
            first.wait()


def test_a_killed_runs_lock_does_not_block_the_next_run(tmp_path):
    ckpt = tmp_path / "ckpt"
    killed = run_tool(
        "train", "--config", TOY_CONFIG, *opts(ckpt_dir=str(ckpt), kill_at_step=5, max_epoch=1),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    holder = json.loads((ckpt / LOCK_NAME).read_text())  # the file stays, the lock does not
    assert holder["stage"] == "float" and isinstance(holder["pid"], int)

    resumed = run_tool(
        "train", "--config", TOY_CONFIG, "--resume", *opts(ckpt_dir=str(ckpt), max_epoch=1),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    assert torch.load(ckpt / "float-checkpoint-last.pth.tar", weights_only=True)["step"] == 12


def test_rerun_needs_resume_or_overwrite_and_other_stages_are_not_refused(tmp_path):
    ckpt = tmp_path / "ckpt"
    args = ("--config", TOY_CONFIG, *opts(ckpt_dir=str(ckpt), max_epoch=1))
    first = run_tool("train", *args, cwd=str(tmp_path))
    assert first.returncode == 0, first.stderr
    trained = load_weights(ckpt / "float-checkpoint-last.pth.tar")
    before = snapshot(ckpt)

    rerun = one_line_error(run_tool("train", *args, cwd=str(tmp_path)))
    assert rerun.startswith(f"hat-train: error: {ckpt} already has float checkpoints (")
    assert "float-checkpoint-last.pth.tar" in rerun
    assert "--resume" in rerun and "--overwrite" in rerun
    assert snapshot(ckpt) == before

    both = one_line_error(run_tool("train", *args, "--resume", "--overwrite", cwd=str(tmp_path)))
    assert "--resume" in both and "--overwrite" in both

    # Another stage of the same task (here: finetune) writes its own files beside float's.
    other = run_tool("train", "--stage", "finetune", *args, cwd=str(tmp_path))
    assert other.returncode == 0, other.stderr
    assert (ckpt / "finetune-checkpoint-last.pth.tar").exists()

    resumed = run_tool("train", *args, "--resume", cwd=str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout

    (ckpt / "float-checkpoint-epoch-0099.pth.tar").write_bytes(b"from an older run")
    over = run_tool("train", *args, "--overwrite", cwd=str(tmp_path))
    assert over.returncode == 0, over.stderr
    assert "--overwrite: removed 3 float checkpoint files" in over.stdout
    assert not (ckpt / "float-checkpoint-epoch-0099.pth.tar").exists()
    assert (ckpt / "finetune-checkpoint-last.pth.tar").exists()  # other stages untouched
    again = load_weights(ckpt / "float-checkpoint-last.pth.tar")
    for key in trained:  # started over: the very weights of the first run
        assert torch.equal(again[key], trained[key]), key


def test_checkpoint_places_follow_the_stage_and_its_checkpoint_callbacks(tmp_path):
    cfg = {
        "ckpt_dir": str(tmp_path / "task"),
        "float_trainer": {
            "type": "Trainer",
            "callbacks": [
                {"type": "StatsMonitor"},
                {"type": "Checkpoint", "save_dir": str(tmp_path / "elsewhere")},
                {"type": "Checkpoint", "save_dir": str(tmp_path / "task"), "name_prefix": "f-"},
            ],
        },
        "calibration_trainer": {"type": "Calibrator", "save_dir": str(tmp_path / "task")},
    }
    config = RunConfig(cfg, "cfg.py")
    assert checkpoint_places(config, "float") == [
        (str(tmp_path / "task"), "float-"),
        (str(tmp_path / "elsewhere"), "float-"),
        (str(tmp_path / "task"), "f-"),
    ]
    assert checkpoint_places(config, "calibration") == [(str(tmp_path / "task"), "calibration-")]


def test_run_lock_is_exclusive_across_processes_and_released(tmp_path):
    code = (
        "import sys; from hat.utils.run_lock import RunLock, RunLockBusyError\n"
        "try:\n    RunLock(sys.argv[1], stage='qat', wait_s=0).acquire()\n"
        "except RunLockBusyError as e:\n    print(e); sys.exit(3)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    with RunLock(str(tmp_path), stage="float") as lock:
        assert lock.held
        other = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True
        )
        assert other.returncode == 3, other.stderr
        assert f"(pid {os.getpid()} on " in other.stdout and "stage float" in other.stdout
        try:
            RunLock(str(tmp_path)).acquire()
            raise AssertionError("a second lock of the same folder in one process succeeded")
        except RunLockBusyError as exc:
            assert "already locked by this process" in str(exc)
    assert not lock.held
    free = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert free.returncode == 0, free.stdout + free.stderr
    assert json.loads((tmp_path / LOCK_NAME).read_text())["stage"] == "qat"
