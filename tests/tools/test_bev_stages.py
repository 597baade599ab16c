"""The BEV IPM multitask model through HAT's stage commands on a tiny synthetic nuScenes, as users
run them: make_synthetic -> pack (train, val) -> train float -> calibration -> qat -> predict
(float, calibration, qat, int_infer) -> export_hbir -> validation_hbir align_bpu; then the model
checker and calops."""

import json
import re
from pathlib import Path

import pytest
import torch
from stage_tools import (
    PREDICT_STAGES,
    TRAIN_STAGES,
    run_tool,
    stage_folders,
    stage_metrics,
)

from hat.quantization.ort_runner import EXACT_INT_CONV_OP
from hat.registry import build_from_registry
from hat.utils.run_config import RunConfig

CFG = str(Path(__file__).with_name("tiny_bev_stages_config.py"))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    env, base, data, ckpt = stage_folders(tmp_path_factory, "bev_stages")
    raw = base / "raw"
    run_tool(
        env, "tools/datasets/make_synthetic.py", "nuscenes", "--out", str(raw),
        "--num-train-scenes", "1", "--num-val-scenes", "1", "--frames-per-scene", "4",
        "--image-size", "160x90", "--seed", "0",
    )  # fmt: skip
    for split in ("train", "val"):
        run_tool(
            env, "tools/datasets/nuscenes_packer.py", "--src-data-dir", str(raw),
            "--target-data-dir", str(data), "--split-name", split, "--pack-type", "lmdb",
            "--num-workers", "0",
        )  # fmt: skip
    for stage in TRAIN_STAGES:
        run_tool(env, "tools/train.py", "--stage", stage, "--config", CFG)
    for stage in PREDICT_STAGES:
        run_tool(env, "tools/predict.py", "--stage", stage, "--config", CFG)
    run_tool(env, "tools/export_hbir.py", "--config", CFG)
    run_tool(env, "tools/validation_hbir.py", "--stage", "align_bpu", "--config", CFG)
    return env, data, ckpt


def test_stage_chain_metrics_and_export(chain):
    env, data, ckpt = chain
    for stage in TRAIN_STAGES:
        assert (ckpt / f"{stage}-checkpoint-best.pth.tar").is_file()
    metrics = {s: stage_metrics(ckpt, s) for s in PREDICT_STAGES}
    for stage, m in metrics.items():
        assert m["dataset_size"] == 4, stage
        assert all(0.0 <= m[k] <= 1.0 for k in ("mAP", "NDS", "mIoU")), (stage, m)
    # the integer model with the QAT weights gives the QAT model's metrics
    for key in ("NDS", "mIoU"):
        assert abs(metrics["int_infer"][key] - metrics["qat"][key]) <= 0.02, metrics
    # ONNX Runtime reproduces the integer model bit for bit on every head output (integer IPM
    # sampling, high-precision head convs), so its metrics are int_infer's
    align = stage_metrics(ckpt, "align_bpu")
    assert align["samples"] == 4
    assert align["identical_fraction_bitwise"] == 1.0, align
    assert align["max_diff_lsb"] == 0.0, align
    for key in ("mAP", "NDS", "mIoU"):
        assert align["metrics_ort"][key] == pytest.approx(metrics["int_infer"][key], abs=1e-9)
    export = json.loads((ckpt / "tiny_bev_stages.int.export.json").read_text())
    assert export["inputs"] == {"img": [6, 3, 64, 96], "points": [6, 16, 16, 2]}
    heads = ("heatmap", "reg", "height", "dim", "rot", "vel")
    assert export["outputs"] == ["bev_seg"] + [f"bev_det_{t}.{k}" for t in range(6) for k in heads]
    assert not export["ort_op_classes"]["float_compute"] and not export["float_islands"]
    # the last BiFPN stack's bottom-up nodes (4-7) feed no decoder: not in the deployed graph
    unused = export["unused_modules"]
    nodes = {re.match(r"bev_encoder\.neck\.layers\.\d+\.nodes\.\d+", u) for u in unused}
    assert (
        unused
        and {m.group(0) for m in nodes if m}
        == {f"bev_encoder.neck.layers.2.nodes.{i}" for i in range(4, 8)}
        and all(nodes)
    ), unused
    # every other convolution of the model and each pyramid-pooling bin is an integer kernel
    cfg = RunConfig.load(CFG, stage="float")
    model = build_from_registry(cfg.model_spec(), "model")
    convs = sum(
        isinstance(m, torch.nn.Conv2d) and not any(n.startswith(u + ".") for u in unused)
        for n, m in model.named_modules()
    )
    bins = len(cfg.model_spec()["neck"]["pool_bins"])
    ops = export["ort_extended_op_counts"]
    # (pooling bins: ConvInteger; the 37 high-precision outputs: exact int32 float convs)
    exact = ops.get(EXACT_INT_CONV_OP, 0)
    assert exact == 37 and ops["QLinearConv"] + ops["ConvInteger"] + exact == convs + bins


def test_checker_and_calops_on_chain(chain):
    env, data, ckpt = chain
    res = run_tool(env, "tools/model_checker.py", "--config", CFG, "--quiet")
    assert "RESULT: the model runs as an integer model" in res.stdout
    res = run_tool(env, "tools/calops.py", "--config", CFG)
    assert "Input: img=(6, 3, 64, 96), points=(6, 16, 16, 2)" in res.stdout
    assert "FLOPs" in res.stdout
