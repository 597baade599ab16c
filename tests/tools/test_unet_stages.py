"""UNet-MobileNetV1 through HAT's stage commands on a tiny synthetic Cityscapes, as users run
them: make_synthetic -> pack -> train float -> calibration -> qat -> predict (float,
calibration, qat, int_infer) -> export_hbir -> align_bpu_validation; then the model checker,
compile_perf (``--opt 2``), calops, export_onnx, infer and infer_hbir."""

import json
from pathlib import Path

import pytest
from stage_tools import run_stage_chain, run_tool, stage_folders, stage_metrics, synthetic_lmdbs

CFG = str(Path(__file__).with_name("tiny_unet_stages_config.py"))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    env, _, data, ckpt = stage_folders(tmp_path_factory, "unet_stages")
    synthetic_lmdbs(
        env, "cityscapes", data,
        ["--num-train", "8", "--num-val", "4", "--seed", "0", "--height", "64", "--width", "128"],
        splits=("train", "val"),
    )  # fmt: skip
    run_stage_chain(env, CFG, validation=["tools/align_bpu_validation.py"])
    return env, data, ckpt


def test_stage_chain_figures(chain):
    env, data, ckpt = chain
    for stage in ("float", "calibration", "qat"):
        assert (ckpt / f"{stage}-checkpoint-best.pth.tar").is_file()
    miou = {s: stage_metrics(ckpt, s)["mIoU"] for s in ("float", "calibration", "qat", "int_infer")}
    assert all(0.0 < v <= 1.0 for v in miou.values()), miou
    # int_infer: the deploy model (stride-4 argmax) with the QAT weights, same metric
    assert abs(miou["int_infer"] - miou["qat"]) <= 0.02, miou
    align = stage_metrics(ckpt, "align_bpu")
    assert align["samples"] == 4
    assert align["identical_fraction_bitwise"] == 1.0, align
    assert align["max_diff_lsb"] == 0.0, align
    assert align["mIoU"] == pytest.approx(align["metrics_int_infer_same_inputs"]["mIoU"], abs=1e-3)
    assert align["mIoU"] == pytest.approx(miou["int_infer"], abs=1e-3)
    export = json.loads((ckpt / "tiny_unet_stages.int.export.json").read_text())
    assert export["outputs"] == ["output"] and export["inputs"] == {"img": [1, 3, 64, 128]}
    ops = export["ort_extended_op_counts"]
    # backbone: stem + 13 separable blocks (dw + pw); neck: 2 at stride 64, 3 separable convs
    # per fusion step (4), 1 output layer; head: 1 output conv
    assert ops["QLinearConv"] == 1 + 13 * 2 + (2 + 4 * 3 + 1) * 2 + 1 == 58
    assert ops["QLinearAdd"] == 4 and ops["ArgMax"] == 1
    assert not export["ort_op_classes"]["float_compute"]


def test_checker_perf_calops_on_chain(chain):
    env, data, ckpt = chain
    res = run_tool(env, "tools/model_checker.py", "--config", CFG, "--quiet")
    assert "RESULT: the model runs as an integer model" in res.stdout
    run_tool(env, "tools/compile_perf.py", "-c", CFG, "--opt", "2")
    perf = json.loads((ckpt / "tiny_unet_stages.perf.json").read_text())
    assert perf["latency"]["median_ms"] > 0 and perf["op_counts"]["QLinearConv"] == 58
    res = run_tool(env, "tools/calops.py", "--config", CFG)
    assert "FLOPs" in res.stdout
    run_tool(env, "tools/export_onnx.py", "--config", CFG)
    assert (ckpt / "tiny_unet_stages.float.onnx").is_file()


def test_infer_pictures_on_chain(chain):
    env, data, ckpt = chain
    stem = next((data / "leftImg8bit" / "val").rglob("*_leftImg8bit.png"))
    gt = str(stem).replace("leftImg8bit", "gtFine").replace("_gtFine.png", "_gtFine_labelIds.png")
    inputs = f"img:{stem},gt:{gt}"
    for tool, stage in (("tools/infer.py", "int_infer"), ("tools/infer_hbir.py", None)):
        out = ckpt / f"infer_{stage or 'hbir'}"
        args = ["--config", CFG, "--model-inputs", inputs, "--save-path", str(out)]
        res = run_tool(env, tool, *args, *(["--stage", stage] if stage else []))
        assert "pixel accuracy" in res.stdout
        for name in ("overlay", "seg_color", "legend", "panel", "error", "pred_trainIds"):
            assert (out / f"{name}.png").is_file(), name
    import cv2
    import numpy as np

    a = cv2.imread(str(ckpt / "infer_int_infer" / "pred_trainIds.png"), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(ckpt / "infer_hbir" / "pred_trainIds.png"), cv2.IMREAD_UNCHANGED)
    assert a.shape == (64, 128) and np.array_equal(a, b)  # same int model, same deploy size


def test_ort_ptq_comparison_on_chain(chain, tmp_path):
    """benchmarks/bench_ort_ptq.py beside the stages: the same float model through ORT's own
    quantize_static with its three calibrators, evaluated like hat's integer model."""
    env, data, ckpt = chain
    out = tmp_path / "ptq.json"
    res = run_tool(
        env, "benchmarks/bench_ort_ptq.py", "--config", CFG, "--rounds", "1", "--seconds",
        "0.2", "--json", str(out), "--keep", str(tmp_path / "onnx"), timeout=600,
    )  # fmt: skip
    (row,) = json.loads(out.read_text())
    assert row["metric"] == "mIoU" and row["mode"] == "max"
    # hat's integer model on ORT is int_infer; the float ONNX is the float stage's model
    assert row["hat_int"] == pytest.approx(stage_metrics(ckpt, "int_infer")["mIoU"], abs=1e-6)
    assert row["float"] == pytest.approx(stage_metrics(ckpt, "float")["mIoU"], abs=1e-6)
    assert row["hat_calibration"] == pytest.approx(
        stage_metrics(ckpt, "calibration")["mIoU"], abs=1e-6
    )
    for method in ("minmax", "entropy", "percentile"):
        assert 0.0 < row[f"ort_{method}"] <= 1.0, row
        assert (tmp_path / "onnx" / f"tiny_unet_stages.ort_{method}.onnx").is_file()
    assert row["calibration_samples"] > 0
    # ORT's calibrators get the samples in strides that divide their count; only metrics have
    # ratios to float
    assert row["calibration_samples"] % row["calibration_stride"] == 0
    assert 1 <= row["calibration_stride"] <= 8
    assert set(row["ratios_to_float"]) == {
        "hat_calibration",
        "hat_qat",
        "hat_int",
        "ort_minmax",
        "ort_entropy",
        "ort_percentile",
    }
    assert set(row["latency_ms"]) == {"hat_int8", "ort_fp32", "ort_ptq_int8"}
    # both int8 graphs as ORT runs them: hat's has integer kernels and no float compute
    ops = row["optimized_ops"]
    assert set(ops) == {"hat_int8", "ort_ptq_int8"}
    assert ops["hat_int8"]["integer"] and not ops["hat_int8"]["float_compute"], ops
    assert sum(ops["ort_ptq_int8"]["qdq"].values()) > 0, ops
    assert "hat calibration >= best ORT calibrator" in res.stdout
