"""The recipes and demo configs built on ``configs/common``: every stage resolves, checkpoint
files are named by :func:`hat.utils.checkpoint.checkpoint_path` in the config's own
``ckpt_dir`` (also after a ``--opts ckpt_dir`` override), and the named entries the demos edit
are the objects the stages use."""

from __future__ import annotations

import pytest
from config_snapshot import CONFIGS, ROOT, load

from hat.utils.checkpoint import checkpoint_path
from hat.utils.config import Config

RECIPES = [c for c in CONFIGS if c.startswith("configs/")]


def _loader_paths(cfg) -> dict[str, str]:
    return {name: loader["checkpoint_path"] for name, loader in cfg["quant_ckpt_loaders"].items()}


def _expected_paths(cfg, ckpt_dir: str) -> dict[str, str]:
    stages = {"float": "float", "calibration": "calibration", "qat": "qat", "deploy": "qat"}
    return {
        name: checkpoint_path(ckpt_dir, f"{stages[name]}-", "best")
        for name in cfg["quant_ckpt_loaders"]
    }


@pytest.mark.parametrize("config", RECIPES)
def test_stage_paths_follow_the_configs_ckpt_dir(config: str) -> None:
    for stage in ("float", "qat"):
        cfg = load(config, stage)
        ckpt_dir = cfg["ckpt_dir"]
        assert cfg["task_name"] in ckpt_dir
        assert _loader_paths(cfg) == _expected_paths(cfg, ckpt_dir)
        assert cfg["ckpt_callback"]["save_dir"] == ckpt_dir
        assert cfg["ckpt_callback"]["name_prefix"] == f"{stage}-"
        assert cfg["calibration_trainer"]["save_dir"] == ckpt_dir
        if "tensorboard_callback" in cfg:
            assert cfg["tensorboard_callback"]["save_dir"] == ckpt_dir + "/tensorboard"
    calibration = cfg["calibration_trainer"]["model_convert_pipeline"]["converters"][0]
    assert calibration is cfg["float_ckpt_loader"]
    qat_converters = cfg["qat_trainer"]["model_convert_pipeline"]["converters"]
    assert qat_converters[1] is cfg["calibration_ckpt_loader"]
    deploy = cfg.get("deploy_ckpt_loader", cfg["qat_ckpt_loader"])
    for key in ("int_infer_predictor", "align_bpu_predictor"):
        assert cfg[key]["model_convert_pipeline"]["converters"][1] is deploy
    assert cfg["align_bpu_predictor"]["data_loader"] == [cfg["align_bpu_data_loader"]]


@pytest.mark.parametrize("config", RECIPES)
def test_ckpt_dir_override_re_derives_every_stage_path(config: str, tmp_path) -> None:
    target = str(tmp_path / "run")
    cfg = Config.fromfile(str(ROOT / config), ["ckpt_dir", repr(target)])
    assert _loader_paths(cfg) == _expected_paths(cfg, target)
    assert cfg["calibration_trainer"]["save_dir"] == target
    assert cfg["ckpt_callback"]["save_dir"] == target


@pytest.mark.parametrize("config", RECIPES)
def test_named_entries_are_the_ones_the_stages_use(config: str) -> None:
    cfg = load(config, "float")
    float_callbacks = cfg["float_trainer"]["callbacks"]
    qat_callbacks = cfg["qat_trainer"]["callbacks"]
    assert any(c is cfg["lr_updater"] for c in float_callbacks)
    assert any(c is cfg["qat_lr_updater"] for c in qat_callbacks)
    for name in ("stat_callback", "loss_show_callback", "val_callback", "ckpt_callback"):
        assert any(c is cfg[name] for c in float_callbacks), name
        assert any(c is cfg[name] for c in qat_callbacks), name
    assert not any(c is cfg.get("tensorboard_callback") for c in qat_callbacks)
    for key in ("float_trainer", "qat_trainer"):
        trainer = cfg[key]
        train_ids = {id(m) for m in trainer["train_metrics"]}
        assert train_ids.isdisjoint(id(m) for m in trainer["val_metrics"]), key
    transforms = cfg["batch_processor"]["batch_transforms"]
    if "scale_transform" in cfg:
        assert transforms[-1] is cfg["scale_transform"]
    if "crop_transform" in cfg:
        assert cfg["data_loader"]["dataset"]["transforms"][0] is cfg["crop_transform"]


@pytest.mark.parametrize("config", RECIPES)
def test_relocate_outputs_moves_every_stage_path(config: str, tmp_path) -> None:
    cfg = load(config, "float")
    target = str(tmp_path / "moved")
    cfg["relocate_outputs"](target)
    assert _loader_paths(cfg) == _expected_paths(cfg, target)
    assert cfg["ckpt_callback"]["save_dir"] == target
    assert cfg["calibration_trainer"]["save_dir"] == target
    if "tensorboard_callback" in cfg:
        assert cfg["tensorboard_callback"]["save_dir"] == target + "/tensorboard"
    for key in ("float_trainer", "qat_trainer"):  # the trainers hold the moved callback
        assert any(c is cfg["ckpt_callback"] for c in cfg[key]["callbacks"]), key
