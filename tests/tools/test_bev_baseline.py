"""python -m hat.tools.bev_baseline: no detections and the all-'others' map, evaluated with the
tiny BEV config's own metrics on a packed synthetic nuScenes val split."""

import json
from pathlib import Path

import pytest
import torch
from stage_tools import stage_folders, tiny_nuscenes_lmdbs

from hat.metrics.epe import EndPointError
from hat.registry import build_from_registry
from hat.tools import bev_baseline
from hat.utils.cli import ToolError
from hat.utils.run_config import RunConfig

CFG = str(Path(__file__).with_name("tiny_bev_stages_config.py"))


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    env, base, data, ckpt = stage_folders(tmp_path_factory, "bev_baseline")
    tiny_nuscenes_lmdbs(env, base / "raw", data, frames=3, seed=1, splits=("val",))
    return env, data, ckpt


def test_baseline_metrics_file(packed, monkeypatch):
    env, data, ckpt = packed
    monkeypatch.setenv("HAT_TEST_DATA", env["HAT_TEST_DATA"])
    monkeypatch.setenv("HAT_TEST_CKPT", env["HAT_TEST_CKPT"])
    with pytest.raises(SystemExit) as exc:
        bev_baseline.main(["--config", CFG])
    assert exc.value.code == 0
    result = json.loads((ckpt / bev_baseline.OUTPUT_FILE).read_text())
    assert result["dataset_size"] == 3
    # no detection: AP 0 for every class and every TP error at its worst value 1
    assert result["mAP"] == 0.0 and result["NDS"] == 0.0
    # the gt map classes, counted directly on the same batches
    config = RunConfig.load(CFG)
    counts = torch.zeros(4, dtype=torch.int64)
    for batch in build_from_registry(config.get("val_data_loader"), "val_data_loader"):
        gt = batch["gt_seg_mask"]
        gt = gt[(gt >= 0) & (gt < 4)]
        counts += torch.bincount(gt, minlength=4)
    assert counts[1:].sum() > 0  # some map element is in the val frames
    iou = result["map_iou"]
    # all-"others": its IoU is the share of "others" pixels; a present class has IoU 0, an absent
    # one none (NaN, written as null); mIoU (without "others") is 0
    assert iou["others"] == pytest.approx(int(counts[0]) / int(counts.sum()), abs=1e-12)
    for k, name in enumerate(("divider", "ped_crossing", "boundary"), start=1):
        assert iou[name] == (0.0 if counts[k] > 0 else None), (name, counts)
    assert result["mIoU"] == 0.0


def test_baseline_rejects_other_metrics():
    batch = {"sample_token": ["a"], "gt_seg_mask": torch.zeros(1, 4, 4, dtype=torch.long)}
    with pytest.raises(ToolError, match="EndPointError has no BEV baseline"):
        bev_baseline.update_baseline([EndPointError()], batch)
    with pytest.raises(ToolError, match="no 'sample_token'"):
        bev_baseline.update_baseline([], {"img": None})
