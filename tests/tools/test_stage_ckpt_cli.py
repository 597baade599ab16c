"""``--ckpt`` and ``--opts`` as the stage tools take them: ``predict --stage int_infer --ckpt X``
converts X (a QAT checkpoint) to the integer model, ``infer --opts ckpt_dir D`` finds the
stage's checkpoints in D, and a missing or wrong checkpoint is one line naming what is needed."""

import json
import os
from pathlib import Path

import pytest
import stage_tools
import torch
from stage_tools import ROOT, flyingchairs_lmdbs, stage_folders

CFG = str(Path(__file__).with_name("tiny_pwcnet_stages_config.py"))


def run_tool(env, *args, cwd=ROOT):
    return stage_tools.run_tool(env, *args, cwd=cwd, ok=False)


def one_line_error(res, *fragments):
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr
    for fragment in fragments:
        assert fragment in res.stderr, res.stderr


def qat_state(env, seed):
    """A QAT checkpoint of the tiny config's model (random float weights, one batch seen)."""
    from hat.registry import build_from_registry
    from hat.utils.run_config import RunConfig

    old = {k: os.environ.get(k) for k in ("HAT_TEST_DATA", "HAT_TEST_CKPT")}
    os.environ.update({k: env[k] for k in old})
    try:
        config = RunConfig.load(CFG, stage="qat")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    torch.manual_seed(seed)
    model = build_from_registry(config.model_spec(), "model")
    pipeline = dict(config.predictor("qat")["model_convert_pipeline"])
    pipeline["converters"] = [c for c in pipeline["converters"] if c.get("type") == "Float2QAT"]
    model = build_from_registry(pipeline)(model).eval()
    with torch.no_grad():
        model(dict(img=torch.rand(2, 6, 64, 96)))
    return model.state_dict(), config.model_spec()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    env, base, data, ckpt = stage_folders(tmp_path_factory, "stage_ckpt")
    flyingchairs_lmdbs(env, data, num_pairs=4, splits=("val",))
    from hat.utils.checkpoint import save_checkpoint

    paths = {}
    for seed in (1, 2):
        state, _ = qat_state(env, seed)
        paths[seed] = str(base / f"qat-seed{seed}.pth.tar")
        save_checkpoint({"state_dict": state}, paths[seed])
    return env, base, data, ckpt, paths


def test_predict_int_infer_takes_the_qat_checkpoint(setup):
    env, base, data, ckpt, paths = setup
    res = run_tool(env, "tools/predict.py", "--stage", "int_infer", "--config", CFG)
    one_line_error(res, "checkpoint not found", "qat-checkpoint-best.pth.tar")

    epe = {}
    for seed, path in paths.items():
        res = run_tool(
            env, "tools/predict.py", "--stage", "int_infer", "--config", CFG, "--ckpt", path
        )
        assert res.returncode == 0, res.stderr[-3000:]
        report = json.loads((ckpt / "int_infer-metrics.json").read_text())
        assert report["checkpoint"] == path and report["dataset_size"] == 1
        epe[seed] = report["EPE"]
    assert all(v > 0 for v in epe.values()) and epe[1] != epe[2]  # the weights came from --ckpt

    float_ckpt = base / "float.pth.tar"
    from hat.registry import build_from_registry
    from hat.utils.checkpoint import save_checkpoint

    _, model_spec = qat_state(env, 1)
    save_checkpoint({"state_dict": build_from_registry(model_spec).state_dict()}, str(float_ckpt))
    res = run_tool(
        env, "tools/predict.py", "--stage", "int_infer", "--config", CFG, "--ckpt", str(float_ckpt)
    )
    one_line_error(
        res, f"{float_ckpt} does not fit the model", "model keys missing",
        "the QAT checkpoint the integer model is converted from",
    )  # fmt: skip


def test_infer_opts_point_the_stage_at_another_ckpt_dir(setup, tmp_path):
    env, base, data, ckpt, paths = setup
    other = tmp_path / "other_ckpts"
    other.mkdir()
    os.link(paths[1], other / "qat-checkpoint-best.pth.tar")
    stem = data / "FlyingChairs_release" / "data" / "00001"
    inputs = f"img1:{stem}_img1.ppm,img2:{stem}_img2.ppm"
    args = [str(ROOT / "tools" / "infer.py"), "--config", CFG, "--stage", "int_infer",
            "--model-inputs", inputs, "--save-path", str(tmp_path / "out")]  # fmt: skip
    one_line_error(run_tool(env, *args), f"checkpoint not found: {ckpt}/qat-checkpoint-best")
    res = run_tool(env, *args, "--opts", "ckpt_dir", str(other), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "out" / "flow.png").is_file() and (tmp_path / "out" / "flow.flo").is_file()
    res = run_tool(env, *args, "--ckpt", paths[2], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
