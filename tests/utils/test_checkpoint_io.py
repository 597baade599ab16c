"""Atomic checkpoint writes, weights_only loading and RNG state round trips."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from hat.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from hat.utils.file_io import atomic_write
from hat.utils.rng_state import get_rng_state, set_rng_state


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


def test_failed_save_keeps_the_previous_file_and_leaves_no_temp_file(tmp_path):
    path = str(tmp_path / "float-checkpoint-last.pth.tar")
    save_checkpoint({"state_dict": {"w": torch.ones(3)}, "step": 1}, path)
    with pytest.raises(RuntimeError, match="cannot pickle"):
        save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "bad": Unpicklable()}, path)
    assert os.listdir(tmp_path) == ["float-checkpoint-last.pth.tar"]
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["state_dict"]["w"], torch.ones(3))


def test_interrupted_writer_leaves_previous_file(tmp_path):
    path = str(tmp_path / "file.bin")
    atomic_write(path, lambda f: f.write(b"old"))

    def half_then_fail(f):
        f.write(b"new-but-incomplete")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_fail)
    assert open(path, "rb").read() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_rng_state_is_weights_only_loadable_and_restores_draws(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = get_rng_state()
    path = str(tmp_path / "rng.pth.tar")
    save_checkpoint({"rng": [state]}, path)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(path)["rng"][0])  # weights_only=True inside
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(str(tmp_path / "nothing.pth.tar"))
    torch.save({"obj": Unpicklable.__new__(Unpicklable).__class__}, tmp_path / "code.pth.tar")
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_checkpoint(str(tmp_path / "code.pth.tar"))
