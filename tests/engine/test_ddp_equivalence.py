"""Two gloo processes with batch 2 follow the same loss trajectory as one process with batch 4."""

from __future__ import annotations

import pytest
import torch
from engine_test_helpers import TOY_CONFIG, load_weights, opts, read_records, run_tool


def test_two_process_ddp_matches_single_process_with_same_global_batch(tmp_path):
    common = dict(dropout=0.0, max_epoch=2, ckpt_interval_steps=100)
    single = run_tool(
        "train", "--config", TOY_CONFIG,
        *opts(ckpt_dir=str(tmp_path / "one"), record_path=str(tmp_path / "one.jsonl"),
              batch_size_per_gpu=4, **common),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    ddp = run_tool(
        "train", "--config", TOY_CONFIG, "--device-ids", "0,1",
        *opts(ckpt_dir=str(tmp_path / "two"), record_path=str(tmp_path / "two.jsonl"),
              batch_size_per_gpu=2, **common),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr + ddp.stdout
    assert "world_size=2" in ddp.stdout

    one, two = read_records(tmp_path / "one.jsonl"), read_records(tmp_path / "two.jsonl")
    assert len(one) == len(two) == 24
    assert [r["indices"] for r in one] == [r["indices"] for r in two]  # same global batches
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-5, abs=1e-6)
    w1 = load_weights(tmp_path / "one" / "float-checkpoint-last.pth.tar")
    w2 = load_weights(tmp_path / "two" / "float-checkpoint-last.pth.tar")
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], rtol=1e-5, atol=1e-6)
    assert torch.load(tmp_path / "two" / "float-checkpoint-last.pth.tar", weights_only=True)[
        "meta"
    ]["world_size"] == 2
