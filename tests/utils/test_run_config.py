"""RunConfig: what the tools read from a config, with errors naming the file and the key."""

from __future__ import annotations

import os
import textwrap

import pytest
import torch

from hat.utils.run_config import ConfigKeyError, RunConfig, with_stage_checkpoint
from hat.utils.run_context import STAGE_ENV


def write(tmp_path, text: str) -> str:
    path = tmp_path / "cfg.py"
    path.write_text(textwrap.dedent(text))
    return str(path)


BASE = """
    import os, torch
    task_name = "toy"
    ckpt_dir = "/ckpt/toy"
    stage = os.environ.get("HAT_TRAINING_STEP")
    model = dict(type="Linear", in_features=2, out_features=1)
    float_trainer = dict(type="Trainer", model=model)
    qat_trainer = dict(type="Trainer", model=model)
    float_predictor = dict(type="Predictor", model=model)
    deploy_inputs = dict(img=torch.zeros(1, 2))
    data_loader = dict(dataset=dict(data_path="/data/train"))
"""


def test_load_sets_the_stage_and_applies_opts(tmp_path, monkeypatch):
    monkeypatch.delenv(STAGE_ENV, raising=False)
    run = RunConfig.load(write(tmp_path, BASE), stage="qat", opts=["ckpt_dir", "/elsewhere"])
    assert os.environ[STAGE_ENV] == "qat" and run.cfg["stage"] == "qat"
    assert run.ckpt_dir == "/elsewhere"
    assert run.checkpoint("qat") == "/elsewhere/qat-checkpoint-best.pth.tar"
    assert run.checkpoint("float", "last") == "/elsewhere/float-checkpoint-last.pth.tar"
    assert run.stage_file("float", "metrics.json") == "/elsewhere/float-metrics.json"
    assert run.int_onnx_path() == "/elsewhere/toy.int.onnx"
    assert run.get("data_loader.dataset.data_path") == "/data/train"
    assert run.deploy_inputs()["img"].shape == torch.Size([1, 2])
    assert run.trainer("qat")["type"] == "Trainer"
    assert run.deploy_model_spec()[0] == "model"


def test_missing_entries_name_the_file_the_key_and_what_is_expected(tmp_path):
    path = write(tmp_path, "model = dict(type='Linear', in_features=2, out_features=1)\n")
    run = RunConfig.load(path)
    with pytest.raises(ConfigKeyError) as err:
        _ = run.ckpt_dir
    assert str(err.value) == (
        f"config {path} has no 'ckpt_dir' (expected the folder of checkpoints and outputs (a str))"
    )
    with pytest.raises(ConfigKeyError, match=f"config {path} has no 'deploy_inputs' .*img="):
        run.deploy_inputs()
    with pytest.raises(ConfigKeyError, match=f"config {path} has no 'infer_cfg'.*FlowInfer"):
        run.infer_task()
    with pytest.raises(ConfigKeyError, match=f"{path} has no 'data_loader.dataset.data_path'"):
        run.require("data_loader.dataset.data_path", "the training set's path")


def test_stage_errors_list_the_stages_the_config_has(tmp_path):
    path = write(tmp_path, BASE)
    run = RunConfig.load(path)
    with pytest.raises(ConfigKeyError) as err:
        run.trainer("calibration")
    assert str(err.value) == (
        f"config {path} has no 'calibration_trainer'; stages with a trainer: float, qat"
    )
    with pytest.raises(ConfigKeyError, match="has no 'int_infer_predictor'; .*predictor: float"):
        run.predictor("int_infer")


def test_wrong_kinds_say_what_was_found(tmp_path):
    wrong = (
        "    seed = 'seven'\n    deploy_model = 3\n    ckpt_dir = None\n    float_trainer = 'T'\n"
    )
    path = write(tmp_path, BASE + wrong)
    run = RunConfig.load(path)
    with pytest.raises(ConfigKeyError, match=f"config {path}: 'ckpt_dir' is a NoneType"):
        run.checkpoint("float")
    with pytest.raises(ConfigKeyError, match="'seed' is a str \\('seven'\\); expected an int"):
        _ = run.seed
    with pytest.raises(ConfigKeyError, match="'float_trainer' is a str .*dict with a 'type'"):
        run.trainer("float")
    assert run.deploy_model_spec()[0] == "model"  # a non-dict deploy_model is not the network


def test_update_metric_and_compile_cfg(tmp_path):
    extra = (
        "    def update_metric(metrics, batch, model_outs):\n        pass\n"
        "    compile_cfg = dict(tops=8.0, perf_runs=3)\n"
    )
    run = RunConfig.load(write(tmp_path, BASE + extra))
    assert run.update_metric().__name__ == "update_metric"
    assert run.compile_cfg() == dict(tops=8.0, perf_runs=3)
    path = write(tmp_path, BASE + "    update_metric = 1\n    compile_cfg = [8.0]\n")
    run = RunConfig.load(path)
    with pytest.raises(ConfigKeyError, match=f"config {path}: 'update_metric' is a int .*batch"):
        run.update_metric()
    with pytest.raises(ConfigKeyError, match="'compile_cfg' is a list .*compile/perf settings"):
        run.compile_cfg()
    run = RunConfig.load(write(tmp_path, BASE))
    assert run.compile_cfg() == {}  # the defaults apply
    with pytest.raises(ConfigKeyError, match="has no 'update_metric'"):
        run.update_metric()


def test_missing_config_file_is_named(tmp_path):
    from hat.utils.config import ConfigError

    with pytest.raises(ConfigError, match=f"config file not found: {tmp_path}/none.py"):
        RunConfig.load(str(tmp_path / "none.py"), stage="float")


def test_stage_checkpoint_replaces_the_pipeline_loader_or_sets_checkpoint():
    loader = dict(type="LoadCheckpoint", checkpoint_path="/c/qat-checkpoint-best.pth.tar")
    spec = dict(
        type="Predictor",
        model_convert_pipeline=dict(
            type="ModelConvertPipeline",
            converters=[dict(type="Float2QAT"), loader, dict(type="QAT2Quantize")],
        ),
    )
    new, where = with_stage_checkpoint(spec, "int_infer_predictor", "/x.pth.tar")
    assert where == "int_infer_predictor.model_convert_pipeline.converters[1].checkpoint_path"
    assert new["model_convert_pipeline"]["converters"][1]["checkpoint_path"] == "/x.pth.tar"
    assert loader["checkpoint_path"] == "/c/qat-checkpoint-best.pth.tar"  # config untouched
    assert "checkpoint" not in new
    new, where = with_stage_checkpoint(dict(type="Predictor"), "float_predictor", "/f.pth.tar")
    assert new["checkpoint"] == "/f.pth.tar" and where == "float_predictor.checkpoint"
