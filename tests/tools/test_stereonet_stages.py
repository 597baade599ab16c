"""StereoNet through HAT's stage commands on a tiny synthetic SceneFlow, as users run them:
make_synthetic -> pack -> train float -> calibration (percentile) -> qat -> predict
(calibration, qat, int_infer) -> export_hbir -> validation_hbir align_bpu -> model_checker ->
infer / infer_hbir (disparity, depth, error pictures)."""

import json
from pathlib import Path

import numpy as np
import pytest
from stage_tools import run_stage_chain, run_tool, stage_folders, stage_metrics, synthetic_lmdbs

CFG = str(Path(__file__).with_name("tiny_stereonet_stages_config.py"))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    env, _, data, ckpt = stage_folders(tmp_path_factory, "stereo_stages")
    synthetic_lmdbs(
        env, "sceneflow", data,
        ["--num-train", "12", "--num-test", "4", "--seed", "0", "--height", "64", "--width",
         "128", "--max-disp", "16"],
        splits=("train", "test"),
    )  # fmt: skip
    run_stage_chain(env, CFG, validation=["tools/validation_hbir.py", "--stage", "align_bpu"])
    return env, data, ckpt


def test_stage_chain_figures(chain):
    env, data, ckpt = chain
    assert (ckpt / "calibration-checkpoint-best.pth.tar").is_file()
    stages = ("float", "calibration", "qat", "int_infer")
    epe = {s: stage_metrics(ckpt, s)["EPE"] for s in stages}
    d1 = {s: stage_metrics(ckpt, s)["D1"] for s in stages}
    assert all(v > 0 for v in epe.values()) and all(0 <= v <= 1 for v in d1.values())
    # the qat checkpoint evaluated in fake quant and as the integer model agree closely
    assert abs(epe["int_infer"] - epe["qat"]) <= 0.01 * epe["qat"], epe
    align = stage_metrics(ckpt, "align_bpu")
    # ORT reproduces the integer model bit for bit (fused QLinearAdd formula, exact
    # cost volume and soft-argmin, ORT's own bilinear Resize arithmetic)
    assert align["samples"] == 4
    assert align["identical_fraction_bitwise"] == 1.0, align
    assert align["max_diff_lsb"] == 0.0, align
    assert align["outputs"]["output"]["lsb"] > 0, align
    assert align["metrics_ort"]["EPE"] == pytest.approx(epe["int_infer"], rel=1e-3), (align, epe)
    export = json.loads((ckpt / "tiny_stereonet_stages.int.export.json").read_text())
    assert export["float_islands"] == []
    assert export["ort_extended_op_counts"]["QLinearConv"] > 0
    assert "Conv" not in export["ort_extended_op_counts"]


def test_model_checker_accepts_the_integer_model(chain):
    env, _, _ = chain
    ckpt_json = Path(env["HAT_TEST_CKPT"]) / "checker.json"
    res = run_tool(env, "tools/model_checker.py", "--config", CFG, "--json", str(ckpt_json))
    assert "RESULT: the model runs as an integer model" in res.stdout, res.stdout[-2000:]
    report = json.loads(ckpt_json.read_text())
    rows = {r["name"]: r for r in report["rows"]}
    # the integer cost volume and soft-argmin are integer ONNX ops with their MACs counted
    for name, kind in (
        ("head.cost_volume", "IntCostVolume"),
        ("head.soft_argmin", "IntSoftArgmin"),
    ):
        assert rows[name]["module_type"] == kind and rows[name]["kind"] == "integer", rows[name]
        assert rows[name]["macs"] > 0
    summary = report["summary"]
    islands = sorted(r["name"] for r in report["rows"] if r["kind"] == "float island")
    assert sorted(summary["float_islands"]) == islands
    # the int16 disparity path's bilinear resizes are float islands (ORT has no integer
    # linear Resize), and they are listed in the summary
    assert "head.refinements.0.upsample" in islands
    total = sum(r["macs"] for r in report["rows"])
    integer = sum(r["macs"] for r in report["rows"] if r["kind"] != "float island")
    assert summary["total_macs"] == total and summary["integer_macs"] == integer
    assert summary["integer_mac_share"] == pytest.approx(integer / total)
    assert 0.95 < summary["integer_mac_share"] < 1.0
    assert f"({100 * integer / total:.2f} %)" in res.stdout


def test_infer_tools_write_disparity_depth_and_error(chain):
    env, data, ckpt = chain
    lines = (data / "SceneFlow_finalpass_test.txt").read_text().split()
    left, right, gt = (data / p for p in lines[:3])
    inputs = f"imgl:{left},imgr:{right},baseline:0.54,f:1050,gt:{gt}"
    for tool, out in (("infer_hbir", "infer_hbir"), ("infer", "infer_float")):
        res = run_tool(
            env,
            f"tools/{tool}.py",
            "--config",
            CFG,
            "--model-inputs",
            inputs,
            "--save-path",
            str(ckpt / out),
        )
        assert "EPE" in res.stdout and "depth median" in res.stdout
        for name in ("disparity.png", "disparity.pfm", "depth.npy", "error.png", "panel.png"):
            assert (ckpt / out / name).is_file(), (tool, name)
    from hat.data.readers.pfm import read_pfm

    disp = read_pfm(ckpt / "infer_hbir" / "disparity.pfm")
    depth = np.load(ckpt / "infer_hbir" / "depth.npy")
    assert disp.shape == depth.shape == (64, 128)
    ok = disp > 0.01
    np.testing.assert_allclose(depth[ok], 0.54 * 1050 / disp[ok], rtol=1e-5)
