"""SIGKILL at steps and inside checkpoint saves, then ``--resume``: every kill leaves ``last`` and
``best`` consistent, the resumed run ends bit-identical to an uninterrupted one (``best``
included) and no temp file survives. Also: what a resume with a changed config keeps."""

from __future__ import annotations

import os
import random
import signal

import pytest
import torch
from engine_test_helpers import TOY_CONFIG, opts, read_records, run_tool

from hat.utils.checkpoint import load_checkpoint

LAST = "float-checkpoint-last.pth.tar"
BEST = "float-checkpoint-best.pth.tar"
KEY = "Checkpoint#0"
# Checkpoint writes of a full toy run (36 steps, a save every 2 steps, an improved best at each
# of the 3 epoch ends): steps 2..12 -> writes 0..5, epoch 0 end -> best 6, last 7, ...
WRITES_PER_RUN = 24


def train(ckpt, *, resume=False, **values):
    args = ["train", "--config", TOY_CONFIG] + (["--resume"] if resume else [])
    return run_tool(*args, *opts(ckpt_dir=str(ckpt), **values), cwd=os.path.dirname(ckpt))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("reference") / "ckpt"
    run = train(ckpt)
    assert run.returncode == 0, run.stderr
    writes = sum(
        line.split("saved checkpoint ", 1)[1].count(".pth.tar")
        for line in run.stdout.splitlines()
        if "saved checkpoint " in line
    )
    assert writes == WRITES_PER_RUN
    return {
        kind: load_checkpoint(str(ckpt / name)) for kind, name in (("last", LAST), ("best", BEST))
    }


def temp_files(ckpt) -> list[str]:
    return [n for n in os.listdir(ckpt) if n.endswith(".tmp")]


def assert_consistent(ckpt) -> None:
    """What any kill must leave: a loadable ``last``; the ``best`` it records exists, verifies,
    and is that best or a newer one (written just before a ``last`` that the kill prevented)."""
    last = load_checkpoint(str(ckpt / LAST))
    recorded = last["callbacks"][KEY]["best_step"]
    if not (ckpt / BEST).exists():
        assert recorded is None, f"last records a best at step {recorded}, no best file"
        return
    best = load_checkpoint(str(ckpt / BEST))
    own = best["callbacks"][KEY]
    assert own["best_step"] == best["step"]  # a best file describes itself
    if recorded is not None:
        assert best["step"] >= recorded


def assert_like_reference(ckpt, reference) -> None:
    assert not temp_files(ckpt)
    for kind, name in (("last", LAST), ("best", BEST)):
        got = load_checkpoint(str(ckpt / name))
        want = reference[kind]
        assert got["step"] == want["step"], kind
        assert got["callbacks"][KEY] == want["callbacks"][KEY], kind
        for key, value in want["state_dict"].items():
            assert torch.equal(got["state_dict"][key], value), (kind, key)


def kill_and_resume(ckpt, reference, kill: dict) -> str:
    killed = train(ckpt, **kill)
    assert killed.returncode == -signal.SIGKILL, (kill, killed.stderr[-2000:])
    assert_consistent(ckpt)
    resumed = train(ckpt, resume=True)
    assert resumed.returncode == 0, (kill, resumed.stderr[-2000:])
    assert_like_reference(ckpt, reference)
    return resumed.stdout + resumed.stderr


def test_kill_between_best_and_last_keeps_the_newer_best(tmp_path, reference):
    ckpt = tmp_path / "ckpt"
    log = kill_and_resume(ckpt, reference, dict(kill_at_write=6, kill_when="after_replace"))
    assert f"{ckpt / BEST} (step 12) is newer than the resumed state" in log


def test_missing_best_is_rewritten_when_last_holds_it_and_next_stage_error_is_one_line(
    tmp_path, reference
):
    ckpt = tmp_path / "ckpt"
    killed = train(ckpt, kill_at_write=7, kill_when="after_replace")  # right after epoch 0
    assert killed.returncode == -signal.SIGKILL
    os.remove(ckpt / BEST)  # as a kill of an older version (last first, then best) left it

    nxt = run_tool("predict", "--stage", "float", "--config", TOY_CONFIG,
                   *opts(ckpt_dir=str(ckpt)), cwd=str(tmp_path))  # fmt: skip
    assert nxt.returncode == 1 and "Traceback" not in nxt.stderr
    line = nxt.stderr.strip().splitlines()[-1]
    assert line.startswith("hat-predict: error: ") and str(ckpt / BEST) in line

    resumed = train(ckpt, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{ckpt / BEST} was missing: rewritten from {ckpt / LAST}" in resumed.stdout
    assert_like_reference(ckpt, reference)


def test_a_best_whose_weights_are_gone_is_said_and_decided_again(tmp_path, reference):
    ckpt = tmp_path / "ckpt"
    killed = train(ckpt, kill_at_write=9, kill_when="after_replace")  # 2 saves after the best
    assert killed.returncode == -signal.SIGKILL
    os.remove(ckpt / BEST)
    resumed = train(ckpt, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "is missing and its weights are not in" in resumed.stdout
    assert_like_reference(ckpt, reference)  # the later epochs improve: same final best


def test_repeated_kills_during_saves_leave_no_temp_files_after_resume(tmp_path, reference):
    ckpt = tmp_path / "ckpt"
    orphans: list[str] = []
    for i, index in enumerate((4, 3, 2)):  # the temp file is complete, not renamed yet
        killed = train(ckpt, resume=i > 0, kill_at_write=index)
        assert killed.returncode == -signal.SIGKILL
        assert_consistent(ckpt)
        left = temp_files(ckpt)
        assert len(left) == 1 and left[0] not in orphans  # the previous orphan was removed
        orphans += left
    resumed = train(ckpt, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "removed 1 temp files of interrupted saves" in resumed.stdout
    assert_like_reference(ckpt, reference)


def test_random_kills_ci(tmp_path, reference):
    """Three kills at random steps or inside random saves (seeded; see the slow suite)."""
    _random_kills(tmp_path, reference, count=3, seed=1)


@pytest.mark.slow
def test_random_kills_slow(tmp_path, reference):
    _random_kills(tmp_path, reference, count=24, seed=2)


def _random_kills(tmp_path, reference, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(count):
        if rng.random() < 0.4:
            kill = dict(kill_at_step=rng.randrange(1, 36))
        else:
            when = rng.choice(["before_replace", "after_replace"])
            kill = dict(kill_at_write=rng.randrange(WRITES_PER_RUN), kill_when=when)
        kill_and_resume(tmp_path / f"run{i}", reference, kill)


def test_resume_with_changed_lr_and_batch_size_says_what_was_kept(tmp_path):
    ckpt, rec = tmp_path / "ckpt", str(tmp_path / "steps.jsonl")
    killed = train(ckpt, kill_at_step=17, record_path=rec)  # last: step 16 = epoch 1, 16 samples
    assert killed.returncode == -signal.SIGKILL

    lr = train(ckpt, resume=True, lr=0.1, kill_at_step=17)
    assert lr.returncode == -signal.SIGKILL
    assert "group 0 lr=0.02 (config: 0.1)" in lr.stdout
    assert "kept: the checkpoint's values" in lr.stdout

    resumed = train(ckpt, resume=True, batch_size_per_gpu=8, record_path=rec)
    assert resumed.returncode == 0, resumed.stderr
    assert (
        "was written with batch_size 4 per process, this run has 8: kept the sample position "
        "(16 samples of epoch 1 consumed; the epoch continues with step 2)"
    ) in resumed.stdout
    steps = read_records(rec)
    before = [r for r in steps[:17] if 12 <= r["step"] < 16]  # epoch 1 before the kill
    after = steps[17:21]  # epoch 1 after the resume: (48 - 16) / 8 = 4 steps
    assert [len(r["indices"]) for r in after] == [8, 8, 8, 8]
    seen = sorted(i for r in before + after for i in r["indices"])
    assert seen == list(range(48))  # every sample of the epoch exactly once
