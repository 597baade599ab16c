"""PwcNet through HAT's stage commands on a tiny synthetic FlyingChairs set, as users run them:
make_synthetic -> pack -> train float -> calibration -> qat -> predict (calibration, qat,
int_infer) -> export_hbir -> validation_hbir align_bpu -> model_checker -> compile_perf_hbir ->
infer_hbir; plus a model the checker rejects."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stage_tools import (
    ROOT,
    flyingchairs_lmdbs,
    run_stage_chain,
    run_tool,
    stage_folders,
    stage_metrics,
)

CFG = str(Path(__file__).with_name("tiny_pwcnet_stages_config.py"))
BAD_CFG = str(Path(__file__).with_name("bad_checker_config.py"))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    env, _, data, ckpt = stage_folders(tmp_path_factory, "stages")
    flyingchairs_lmdbs(env, data)
    run_stage_chain(env, CFG, validation=["tools/validation_hbir.py", "--stage", "align_bpu"])
    return env, data, ckpt


def test_stage_chain_figures(chain):
    env, data, ckpt = chain
    assert (ckpt / "calibration-checkpoint-best.pth.tar").is_file()
    assert (ckpt / "calibration-checkpoint-last.pth.tar").is_file()
    epe = {s: stage_metrics(ckpt, s)["EPE"] for s in ("float", "calibration", "qat", "int_infer")}
    assert all(v > 0 for v in epe.values())
    assert abs(epe["int_infer"] - epe["qat"]) <= 0.03 * epe["qat"], epe
    align = stage_metrics(ckpt, "align_bpu")
    assert align["identical_fraction_bitwise"] == 1.0, align
    assert align["max_diff_lsb"] == 0.0, align
    assert abs(align["EPE"] - epe["int_infer"]) <= 0.01 * epe["int_infer"], (align, epe)
    export = json.loads((ckpt / "tiny_pwcnet_stages.int.export.json").read_text())
    import torch

    from hat.registry import build_from_registry
    from hat.utils.config import load_config

    cfg = load_config(CFG)
    n_conv = sum(
        isinstance(m, torch.nn.Conv2d) for m in build_from_registry(cfg["model"]).modules()
    )
    assert export["ort_extended_op_counts"]["QLinearConv"] == n_conv
    assert len(export["float_islands"]) == 2  # one Warp per level below the top (levels 2, 3)


def test_checker_perf_infer_on_chain(chain):
    env, data, ckpt = chain
    res = run_tool(env, "tools/model_checker.py", "--config", CFG, "--quiet")
    assert "RESULT: the model runs as an integer model" in res.stdout
    share = next(s for s in res.stdout.splitlines() if s.startswith("MACs total"))
    assert float(share.split("(")[1].split()[0]) >= 95.0
    run_tool(env, "tools/compile_perf_hbir.py", "--config", CFG, "--runs", "3", "--warmup", "1")
    perf = json.loads((ckpt / "tiny_pwcnet_stages.perf.json").read_text())
    assert perf["latency"]["median_ms"] > 0 and perf["op_counts"]["QLinearConv"] > 0
    assert "ESTIMATE" in perf["accelerator_estimate"]["label"]
    assert (ckpt / "tiny_pwcnet_stages.perf.html").is_file()
    stem = data / "FlyingChairs_release" / "data" / "00001"
    out = ckpt / "infer_hbir"
    run_tool(
        env,
        "tools/infer_hbir.py",
        "--config",
        CFG,
        "--model-inputs",
        f"img1:{stem}_img1.ppm,img2:{stem}_img2.ppm",
        "--save-path",
        str(out),
    )
    assert (out / "flow.png").is_file() and (out / "panel.png").is_file()


def test_model_checker_rejects_bad_model():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "tools/model_checker.py", "--config", BAD_CFG],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "CANNOT run as an integer model" in res.stdout
    assert "unfused BatchNorm bn" in res.stdout
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "tool",
    [
        "export_hbir",
        "export_onnx",
        "validation_hbir",
        "infer_hbir",
        "model_checker",
        "compile_perf_hbir",
    ],
)
def test_tools_help_names_open_format(tool):
    res = subprocess.run(
        [sys.executable, f"tools/{tool}.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0
    assert "closed" in res.stdout and "ONNX" in res.stdout
