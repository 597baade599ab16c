"""tools/quant_analysis.py on the tiny PwcNet config: float + calibration trained by the stage
tools, then similarity, sensitivity and int16 top-k reports; and its errors."""

import json
from pathlib import Path

import pytest
from stage_tools import flyingchairs_lmdbs, run_tool, stage_folders, tool_env

CFG = str(Path(__file__).with_name("tiny_pwcnet_stages_config.py"))


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    env, base, data, _ = stage_folders(tmp_path_factory, "quant_analysis")
    flyingchairs_lmdbs(env, data)
    for stage in ("float", "calibration"):
        run_tool(env, "tools/train.py", "--stage", stage, "--config", CFG)
    return env, base


@pytest.mark.slow
def test_quant_analysis_reports_on_tiny_pwcnet(calibrated):
    env, base = calibrated
    out = base / "analysis"
    res = run_tool(env, "tools/quant_analysis.py", "--config", CFG, "--stage", "calibration",
                   "--max-batches", "1", "--sensitivity", "--topk-int16", "2",
                   "--calib-steps", "2", "--out-dir", str(out))  # fmt: skip
    assert "lowest cosine:" in res.stdout and "int16 top-2" in res.stdout
    names = {p.name for p in out.iterdir()}
    for stem in ("similarity", "sensitivity", "similarity_int16"):
        assert {f"{stem}.txt", f"{stem}.json", f"{stem}.html"} <= names, names
    assert {"int16_topk.txt", "int16_topk.json", "int16_modules_snippet.py"} <= names

    sim = json.loads((out / "similarity.json").read_text())
    rows = {r["name"]: r for r in sim["layers"]}
    import hat.nn as hnn
    from hat.registry import build_from_registry
    from hat.utils.config import load_config

    cfg = load_config(CFG)
    float_model = build_from_registry(cfg["model"])
    convs = [n for n, m in float_model.named_modules() if isinstance(m, hnn.ConvModule2d)]
    assert convs and all(c in rows for c in convs)
    assert rows["backbone.quant"]["type"] == "QATQuantStub"
    assert all(-1.0 <= r["cosine"] <= 1.0 for r in rows.values())
    n_out = rows["[output]"]["elements"]  # one val batch (<= 4 pairs) of full-res flow
    assert n_out % (2 * 64 * 96) == 0 and 0 < n_out <= 4 * 2 * 64 * 96

    sens = json.loads((out / "sensitivity.json").read_text())
    assert sens["metric_key"] == "EPE" and sens["higher_is_better"] is False
    degr = [r["degradation"] for r in sens["rows"]]
    assert degr == sorted(degr, reverse=True) and len(degr) >= len(convs)
    ref = sens["reference_nothing_quantized"]["metric"]
    assert abs(sens["float_model"]["metric"] - ref) < 1e-4 * max(ref, 1.0)

    int16 = json.loads((out / "int16_topk.json").read_text())
    top = [r["name"] for r in sens["rows"][:4]]
    assert len(int16["int16_modules"]) == 2 and set(int16["int16_modules"]) <= set(top)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stage"] == "calibration" and summary["batches"] == 1

    # the snippet makes every stage of the config build those modules with int16 outputs
    namespace = {k: v for k, v in cfg.items()}
    exec((out / "int16_modules_snippet.py").read_text(), namespace)
    from hat.tools.deploy_common import build_stage_model

    pipe = namespace["calibration_predictor"]["model_convert_pipeline"]["converters"]
    pipe[:] = [c for c in pipe if c.get("type") == "Float2QAT"]  # no checkpoint needed
    model = build_stage_model(namespace, "calibration_predictor")
    mods = dict(model.named_modules())
    for name in int16["int16_modules"]:
        assert mods[name].activation_post_process.qdtype.name == "int16"


@pytest.mark.slow
def test_quant_analysis_names_a_missing_stage_checkpoint(calibrated):
    env, base = calibrated
    res = run_tool(env, "tools/quant_analysis.py", "--config", CFG, "--stage", "qat",
                   "--out-dir", str(base / "qat"), ok=False)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "qat-checkpoint-best.pth.tar" in res.stderr, res.stderr


def test_quant_analysis_errors_name_what_is_missing(tmp_path):
    env = tool_env(tmp_path / "d", tmp_path / "ckpt")
    res = run_tool(env, "tools/quant_analysis.py", "--config", CFG, "--stage", "qat",
                   "--out-dir", str(tmp_path / "o"), ok=False)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "float checkpoint not found" in res.stderr and "float-checkpoint-best" in res.stderr
    res = run_tool(env, "tools/quant_analysis.py", "--config", str(tmp_path / "none.py"),
                   "--stage", "qat", ok=False)  # fmt: skip
    assert res.returncode == 1 and "config file not found" in res.stderr
