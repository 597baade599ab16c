"""tools/train.py and tools/predict.py as users run them: clear one-line errors, outputs."""

from __future__ import annotations

import json

import pytest
from engine_test_helpers import TOY_CONFIG, opts, run_tool


def assert_clean_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            ["--config", "configs/nope.py"],
            ["hat-train: error: config file not found: configs/nope.py"],
        ),
        (
            ["--config", TOY_CONFIG, "--opts", "float_trainer.optimzer.lr", "0.1"],
            ["unknown key 'optimzer' in float_trainer", "Did you mean: 'optimizer'"],
        ),
        (
            ["--config", TOY_CONFIG, "--opts", "float_trainer.type", "Trainr"],
            ["float_trainer.type: 'Trainr' is not registered", "'Trainer'"],
        ),
        (
            ["--config", TOY_CONFIG, "--opts", "max_epoch", "1.5"],
            ["--opts max_epoch: expected int like the current value 3, got float 1.5"],
        ),
        (
            ["--config", TOY_CONFIG, "--stage", "qat"],
            ["has no 'qat_trainer'; stages with a trainer: float"],
        ),
        (
            ["--config", TOY_CONFIG, "--opts", "model.dropout", "0.1", "model.hiden", "3"],
            ["unknown key 'hiden' in model", "'hidden'"],
        ),
    ],
)
def test_train_user_errors_are_one_line(args, fragments, tmp_path):
    assert_clean_error(run_tool("train", *args, cwd=str(tmp_path)), *fragments)


def test_constructor_error_names_the_config_path(tmp_path):
    result = run_tool(
        "train", "--config", TOY_CONFIG,
        "--opts", "float_trainer.callbacks.1.log_freq", "0", "ckpt_dir", repr(str(tmp_path)),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert_clean_error(
        result, "float_trainer.callbacks[1]: StatsMonitor: ValueError: log_freq must be >= 1"
    )


def test_resume_without_checkpoint_and_device_ids_without_ddp(tmp_path):
    result = run_tool(
        "train", "--config", TOY_CONFIG, "--resume", *opts(ckpt_dir=str(tmp_path)),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert_clean_error(result, "nothing to resume: no checkpoint at")
    result = run_tool(
        "train", "--config", TOY_CONFIG, "--device-ids", "0,1",
        *opts(float_trainer__type="Trainer"), cwd=str(tmp_path),
    )  # fmt: skip
    assert_clean_error(result, "needs a distributed trainer")


def test_train_then_predict_writes_metrics(tmp_path):
    ckpt = str(tmp_path / "ckpt")
    trained = run_tool(
        "train", "--config", TOY_CONFIG, *opts(ckpt_dir=ckpt, max_epoch=1), cwd=str(tmp_path)
    )
    assert trained.returncode == 0, trained.stderr
    assert "samples/s" in trained.stdout and "ETA" in trained.stdout
    logs = list((tmp_path / ".hat_logs").glob("train-toy_config-float-*.log"))
    assert len(logs) == 1 and "Validation at epoch 1" in logs[0].read_text()
    dumped = (tmp_path / "ckpt" / "float-config.py").read_text()
    assert "# --opts ckpt_dir" in dumped and "max_epoch = 1" in dumped

    predicted = run_tool("predict", "--config", TOY_CONFIG, *opts(ckpt_dir=ckpt), cwd=str(tmp_path))
    assert predicted.returncode == 0, predicted.stderr
    report = json.loads((tmp_path / "ckpt" / "float-metrics.json").read_text())
    assert report["dataset_size"] == 16 and report["stage"] == "float"
    assert report["checkpoint"].endswith("float-checkpoint-best.pth.tar")
    assert report["mse"] > 0 and report["seconds"] >= 0
    assert "mse:" in predicted.stdout

    missing = run_tool(
        "predict", "--config", TOY_CONFIG, "--ckpt", str(tmp_path / "none.pth"), cwd=str(tmp_path)
    )
    assert_clean_error(missing, "hat-predict: error: --ckpt: checkpoint not found")


def test_stage_is_visible_to_the_config_and_names_the_files(tmp_path):
    result = run_tool(
        "train", "--stage", "finetune", "--config", TOY_CONFIG, *opts(ckpt_dir=str(tmp_path)),
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert {"finetune-checkpoint-last.pth.tar", "finetune-config.py"} <= names
