"""A run SIGKILLed mid-epoch and resumed ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from engine_test_helpers import TOY_CONFIG, load_weights, opts, read_records, run_tool

KILL_AT = 17  # global step 17 = epoch 2, step 6 of 12; the last checkpoint is after step 16


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, num_workers):
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full_rec, cut_rec = str(tmp_path / "full.jsonl"), str(tmp_path / "cut.jsonl")
    common = dict(num_workers=num_workers, dropout=0.1)  # dropout: the RNG state matters

    full = run_tool(
        "train", "--config", TOY_CONFIG,
        *opts(ckpt_dir=str(full_dir), record_path=full_rec, **common),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert full.returncode == 0, full.stderr

    killed = run_tool(
        "train", "--config", TOY_CONFIG,
        *opts(ckpt_dir=str(cut_dir), record_path=cut_rec, kill_at_step=KILL_AT, **common),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    last = cut_dir / "float-checkpoint-last.pth.tar"
    state = torch.load(last, weights_only=True)
    assert state["step"] == 16 and state["progress"]["steps_in_epoch"] == 4
    assert not state["progress"]["epoch_finished"]
    assert not [p for p in os.listdir(cut_dir) if p.endswith(".tmp")]

    resumed = run_tool(
        "train", "--config", TOY_CONFIG, "--resume",
        *opts(ckpt_dir=str(cut_dir), record_path=cut_rec, **common),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout

    expected = load_weights(full_dir / "float-checkpoint-last.pth.tar")
    got = load_weights(last)
    assert expected.keys() == got.keys()
    for key in expected:  # bit-exact: same samples, same RNG draws, same float operations
        assert torch.equal(got[key], expected[key]), (key, (got[key] - expected[key]).abs().max())

    # The resumed run saw exactly the samples the killed one had not consumed yet.
    full_steps = read_records(full_rec)
    cut_steps = [r for r in read_records(cut_rec)]
    before = [r for r in cut_steps[:KILL_AT] if r["step"] < 16]
    after = cut_steps[KILL_AT:]
    assert [r["step"] for r in after] == list(range(16, 36))
    merged = before + after
    assert [r["indices"] for r in merged] == [r["indices"] for r in full_steps]
    assert [r["loss"] for r in merged] == [r["loss"] for r in full_steps]
