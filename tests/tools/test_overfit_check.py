"""python -m hat.tools.overfit_check on the tiny BEV config: the fresh model memorises one fixed
batch of a packed synthetic nuScenes split (the map segmentation goes from chance to most of
the map right), its loss falls, the report file has both scores; bad arguments are named."""

import json
from pathlib import Path

import pytest
from stage_tools import run_tool, stage_folders, tiny_nuscenes_lmdbs

CFG = str(Path(__file__).with_name("tiny_bev_stages_config.py"))


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    env, base, data, ckpt = stage_folders(tmp_path_factory, "overfit_check")
    tiny_nuscenes_lmdbs(env, base / "raw", data, frames=2, seed=1, splits=("val",))
    return env, ckpt


def test_fixed_batch_is_memorised(packed):
    env, ckpt = packed
    res = run_tool(
        env, "-m", "hat.tools.overfit_check", "--config", CFG, "--steps", "150", "--lr", "3e-3",
        timeout=600,
    )  # fmt: skip
    report = json.loads((ckpt / "overfit-check.json").read_text())
    assert report["batches"] == 1 and report["steps"] == 150
    assert set(report["untrained"]) == set(report["fitted"]) == {"mAP", "NDS", "mIoU"}
    assert report["last_loss"] < report["first_loss"] / 2, report
    # measured: mIoU 0.026 untrained; 0.82 after 150 steps at this lr
    assert report["untrained"]["mIoU"] < 0.2, report
    assert report["fitted"]["mIoU"] > 0.5, report
    assert "mIoU: untrained" in res.stdout


def test_more_batches_than_the_loader_has(packed):
    env, _ = packed
    res = run_tool(
        env, "-m", "hat.tools.overfit_check", "--config", CFG, "--batches", "5", "--steps", "1",
        ok=False,
    )  # fmt: skip
    assert res.returncode == 1
    assert "float_predictor.data_loader gave 1 batches, 5 asked for" in res.stderr


def test_bad_arguments_are_named(packed):
    env, _ = packed
    res = run_tool(env, "-m", "hat.tools.overfit_check", "--config", CFG, "--lr", "0", ok=False)
    assert res.returncode == 1 and "--lr > 0" in res.stderr
