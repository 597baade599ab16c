"""Checkpoint faults: bit flips, write failures, file modes, temp files of killed saves, NaN
weights. Real files, real kernel errors where the kernel can produce them as any user."""

from __future__ import annotations

import errno
import logging
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import zipfile

import pytest
import torch
from engine_test_helpers import TOY_CONFIG, opts, run_tool
from torch import nn

from hat.callbacks import Checkpoint
from hat.engine import BasicBatchProcessor, Trainer
from hat.engine.finite_checks import NonFiniteWeightsError
from hat.utils.checkpoint import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
)
from hat.utils.file_io import FileWriteError, atomic_write, remove_stale_temp_files


def _state(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"state_dict": {"w": torch.randn(64, 8, generator=g), "b": torch.randn(8)}, "step": 3}


# Bit flips ----------------------------------------------------------------------------------
def test_a_flipped_bit_in_the_weights_is_an_error_naming_file_and_record(tmp_path):
    path = str(tmp_path / "float-checkpoint-best.pth.tar")
    save_checkpoint(_state(), path)
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("data/0"))
    raw = bytearray(open(path, "rb").read())
    # the record's data starts after its local header (30 bytes + name + extra field)
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    data_start = info.header_offset + 30 + name_len + extra_len
    raw[data_start + 100] ^= 0x10  # one bit of one float
    open(path, "wb").write(bytes(raw))

    with pytest.raises(CheckpointCorruptError) as err:
        load_checkpoint(path)
    assert path in str(err.value) and "data/0" in str(err.value)
    assert "\n" not in str(err.value)
    model = nn.Linear(8, 64, bias=False)
    with pytest.raises(CheckpointCorruptError):  # every loader goes through the check
        load_model_weights(model, path, allow_unexpected=True, allow_missing=True)


def test_no_single_bit_flip_loads_different_values(tmp_path):
    """Flip one random bit at 300 random offsets: each load either fails with a checkpoint
    error or returns exactly the saved values (a flip in alignment padding)."""
    path = str(tmp_path / "c.pth.tar")
    state = _state(1)
    save_checkpoint(state, path)
    original = open(path, "rb").read()
    rng = random.Random(0)
    detected = 0
    for _ in range(300):
        raw = bytearray(original)
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        open(path, "wb").write(bytes(raw))
        try:
            loaded = load_checkpoint(path)
        except CheckpointError:
            detected += 1
            continue
        assert loaded["step"] == 3
        for key, value in state["state_dict"].items():
            assert torch.equal(loaded["state_dict"][key], value)
    # the undetected flips hit alignment padding or unused header fields (times, "made by")
    assert detected > 200


def test_legacy_checkpoint_without_checksum_loads_with_a_warning(tmp_path, caplog):
    path = str(tmp_path / "old.pth.tar")
    torch.save(_state(), path, _use_new_zipfile_serialization=False)
    with caplog.at_level(logging.WARNING, logger="hat.utils.checkpoint"):
        state = load_checkpoint(path)
    assert torch.equal(state["state_dict"]["w"], _state()["state_dict"]["w"])
    assert "no checksum" in caplog.text and path in caplog.text


# Write failures -----------------------------------------------------------------------------
def test_file_too_large_is_one_line_naming_the_final_path_and_keeps_the_old_file(tmp_path):
    """A real kernel write failure (RLIMIT_FSIZE: EFBIG), as a full disk would give ENOSPC."""
    path = str(tmp_path / "float-checkpoint-last.pth.tar")
    save_checkpoint({"state_dict": {"w": torch.ones(4)}, "step": 1}, path)
    big = {"state_dict": {"w": torch.zeros(1 << 18)}, "step": 2}  # 1 MiB
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, hard))
    try:
        with pytest.raises(CheckpointWriteError) as err:
            save_checkpoint(big, path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    message = str(err.value)
    assert message == (
        f"cannot write checkpoint {path}: File too large; the previous file is unchanged"
    )
    assert os.listdir(tmp_path) == ["float-checkpoint-last.pth.tar"]  # no temp file left
    assert load_checkpoint(path)["step"] == 1


def test_disk_full_from_the_writer_is_one_line(tmp_path):
    """ENOSPC injected by the writer function (a full disk cannot be made without root)."""
    path = str(tmp_path / "report.json")
    atomic_write(path, lambda f: f.write(b"old"))

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(FileWriteError) as err:
        atomic_write(path, full)
    assert str(err.value) == f"cannot write {path}: No space left on device"
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert open(path, "rb").read() == b"old" and os.listdir(tmp_path) == ["report.json"]


def test_unwritable_folder_is_one_line(tmp_path):
    blocker = tmp_path / "ckpt"
    blocker.write_text("a file where the folder should be")
    path = str(blocker / "float-checkpoint-last.pth.tar")
    with pytest.raises(CheckpointWriteError) as err:
        save_checkpoint(_state(), path)
    assert str(err.value).startswith(f"cannot write checkpoint {path}: ")
    assert ".tmp" not in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line(tmp_path):
    path = str(tmp_path / "float-checkpoint-last.pth.tar")
    save_checkpoint({"step": 1}, path)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(CheckpointWriteError, match="Permission denied; the previous file"):
            save_checkpoint({"step": 2}, path)
    finally:
        os.chmod(tmp_path, 0o755)
    assert load_checkpoint(path)["step"] == 1


def test_disk_full_during_training_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt"
    run = run_tool(
        "train", "--config", TOY_CONFIG,
        *opts(ckpt_dir=str(ckpt), fail_writes_from_step=5), cwd=str(tmp_path),
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    last = ckpt / "float-checkpoint-last.pth.tar"
    assert run.stderr.strip().splitlines()[-1] == (
        f"hat-train: error: cannot write checkpoint {last}: No space left on device; the "
        "previous file is unchanged"
    )
    assert "Traceback" not in run.stderr
    assert load_checkpoint(str(last))["step"] == 4  # the save before the failure
    assert not [n for n in os.listdir(ckpt) if n.endswith(".tmp")]


# File modes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_follow_the_umask(tmp_path, umask, mode):
    path = str(tmp_path / "float-checkpoint-last.pth.tar")
    old = os.umask(umask)
    try:
        save_checkpoint(_state(), path)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == mode


# Temp files of killed saves -----------------------------------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_temp_files_of_dead_writers_on_this_host_are_removed(tmp_path, caplog):
    host = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = f".float-checkpoint-last.pth.tar.{_dead_pid()}@{host}.0123abcd.tmp"
        live = f".float-checkpoint-last.pth.tar.{sleeper.pid}@{host}.89abcdef.tmp"
        foreign = ".float-checkpoint-best.pth.tar.12345@other-node.00000000.tmp"
        unrelated = [".mine.tmp", "notes.tmp", "float-checkpoint-last.pth.tar"]
        for name in [dead, live, foreign, *unrelated]:
            (tmp_path / name).write_bytes(b"x")
        cb = Checkpoint(save_dir=str(tmp_path))
        with caplog.at_level(logging.INFO, logger="hat.callbacks.checkpoint"):
            cb._remove_stale_temp_files()
        assert sorted(os.listdir(tmp_path)) == sorted([live, foreign, *unrelated])
        assert "removed 1 temp files of interrupted saves" in caplog.text
        assert "1 temp files written on other hosts" in caplog.text
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temp_files(str(tmp_path)) == ([live], [foreign])  # its writer is gone


# NaN weights are never saved ----------------------------------------------------------------
def test_checkpoint_refuses_non_finite_weights_and_keeps_the_files(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    data = [(torch.randn(2, 4), torch.randn(2, 1)) for _ in range(4)]

    class Loss(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x, y):
            return torch.nn.functional.mse_loss(self.net(x), y)

    class Poison(Checkpoint):  # the weights go NaN after step 2's save
        def on_step_end(self, loop=None, global_step_id=0, **kwargs):
            super().on_step_end(loop=loop, global_step_id=global_step_id, **kwargs)
            if global_step_id == 1:
                with torch.no_grad():
                    model[1].weight[0, 0] = float("nan")

    cb = Poison(save_dir=str(tmp_path), interval_by="step", name_prefix="t-")
    trainer = Trainer(
        model=Loss(model),
        data_loader=data,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        batch_processor=BasicBatchProcessor(nonfinite_loss_patience=None),
        device="cpu",
        num_epochs=1,
        callbacks=[cb],
    )
    with pytest.raises(NonFiniteWeightsError) as err:
        trainer.fit()
    message = str(err.value)
    assert message.startswith(
        f"refusing to save {cb.last_path} at global step 3: 4 parameter tensors hold NaN/inf "
        "(net.0.weight, net.0.bias, net.1.weight ... (+1 more))"
    )
    assert "the last save was at global step 2" in message and "\n" not in message
    state = load_checkpoint(cb.last_path)
    assert state["step"] == 2
    assert all(torch.isfinite(t).all() for t in state["state_dict"].values())
