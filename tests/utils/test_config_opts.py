"""--opts: dotted keys, list indices, type checks, suggestions and derived-value re-derivation."""

from __future__ import annotations

import logging
import textwrap

import pytest

from hat.utils.config import Config, ConfigError

BASE = """
import torch
batch_size_per_gpu = 4
base_lr = 0.01
lr = base_lr * batch_size_per_gpu
name = "exp"
use_bn = True
data_loader = dict(
    type=torch.utils.data.DataLoader,
    batch_size=batch_size_per_gpu,
    dataset=dict(type="Toy", transforms=[dict(type="Resize", size=(128, 128))]),
)
float_trainer = dict(
    type="Trainer",
    data_loader=data_loader,
    optimizer=dict(type=torch.optim.Adam, lr=lr),
    num_epochs=10,
    callbacks=[dict(type="StatsMonitor", log_freq=10)],
    milestones=[3, 6],
    resume=None,
)
"""


@pytest.fixture()
def cfg_path(tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text(textwrap.dedent(BASE))
    return str(path)


def test_dotted_keys_and_list_indices(cfg_path):
    cfg = Config.fromfile(
        cfg_path,
        [
            "float_trainer.optimizer.lr", "0.5",
            "float_trainer.num_epochs", "3",
            "data_loader.dataset.transforms.0.size", "(64,64)",
            "float_trainer.callbacks.0.log_freq", "1",
            "float_trainer.milestones", "(2, 4)",
            "float_trainer.resume", "'ckpt.pth'",
            "name", "123",
        ],
    )  # fmt: skip
    assert cfg.float_trainer["optimizer"]["lr"] == 0.5
    assert cfg.float_trainer["num_epochs"] == 3
    assert cfg.data_loader["dataset"]["transforms"][0]["size"] == (64, 64)
    assert cfg.float_trainer["callbacks"][0]["log_freq"] == 1
    assert cfg.float_trainer["milestones"] == [2, 4]  # tuple given, list kept
    assert cfg.float_trainer["resume"] == "ckpt.pth"  # None accepts anything
    assert cfg.name == "123"  # a string value takes the text as typed
    assert cfg.float_trainer["data_loader"] is cfg.data_loader  # sharing survives


def test_int_for_float_is_converted(cfg_path):
    cfg = Config.fromfile(cfg_path, ["float_trainer.optimizer.lr", "1"])
    assert cfg.float_trainer["optimizer"]["lr"] == 1.0
    assert isinstance(cfg.float_trainer["optimizer"]["lr"], float)


@pytest.mark.parametrize(
    "opts, message",
    [
        (["float_trainer.num_epochs", "2.5"], r"num_epochs: expected int .* got float"),
        (["use_bn", "1"], r"use_bn: expected bool .* got int"),
        (["float_trainer.milestones", "3"], r"expected list .* got int"),
        (["data_loader.type", "3"], r"data_loader.type: the current value is a type"),
    ],
)
def test_type_mismatch_names_key_and_types(cfg_path, opts, message):
    with pytest.raises(ConfigError, match=message):
        Config.fromfile(cfg_path, opts)


def test_unknown_keys_suggest_close_names(cfg_path):
    with pytest.raises(ConfigError, match=r"unknown key 'optimzer' in float_trainer.*'optimizer'"):
        Config.fromfile(cfg_path, ["float_trainer.optimzer.lr", "0.1"])
    with pytest.raises(ConfigError, match=r"unknown key 'float_trainr'.*'float_trainer'"):
        Config.fromfile(cfg_path, ["float_trainr.num_epochs", "1"])
    with pytest.raises(ConfigError, match=r"index 5 is out of range .*length 1"):
        Config.fromfile(cfg_path, ["float_trainer.callbacks.5.log_freq", "1"])
    with pytest.raises(ConfigError, match=r"holds a int .* no field 'x'"):
        Config.fromfile(cfg_path, ["float_trainer.num_epochs.x", "1"])
    with pytest.raises(ConfigError, match="'key value' pairs"):
        Config.fromfile(cfg_path, ["float_trainer.num_epochs"])


def test_top_level_override_re_derives_dependent_values(cfg_path, caplog):
    with caplog.at_level(logging.WARNING, logger="hat"):
        cfg = Config.fromfile(cfg_path, ["batch_size_per_gpu", "2"])
    assert cfg.batch_size_per_gpu == 2
    assert cfg.data_loader["batch_size"] == 2
    assert cfg.float_trainer["data_loader"]["batch_size"] == 2
    assert cfg.lr == pytest.approx(0.02)
    assert cfg.float_trainer["optimizer"]["lr"] == pytest.approx(0.02)
    assert cfg.derived_changes["data_loader.batch_size"] == (4, 2)
    assert cfg.derived_changes["float_trainer.optimizer.lr"] == (0.04, 0.02)
    assert "data_loader.batch_size: 4 -> 2" in caplog.text
    assert "re-derived: data_loader.batch_size" in cfg.pretty_text()


def test_dotted_override_applies_after_re_derivation(cfg_path):
    cfg = Config.fromfile(cfg_path, ["float_trainer.optimizer.lr", "0.3", "base_lr", "1"])
    assert cfg.lr == 4.0  # derived from base_lr
    assert cfg.float_trainer["optimizer"]["lr"] == 0.3  # the explicit override wins


def test_re_derivation_reaches_into_base_configs(tmp_path):
    (tmp_path / "base.py").write_text("width = 8\nmodel = dict(width=width, double=2 * width)\n")
    (tmp_path / "child.py").write_text(
        "from .base import *\nfloat_trainer = dict(model=model, width_again=width)\n"
    )
    cfg = Config.fromfile(str(tmp_path / "child.py"), ["width", "3"])
    assert cfg.model == {"width": 3, "double": 6}
    assert cfg.float_trainer["width_again"] == 3


def test_augmented_assignment_keeps_the_override(tmp_path):
    (tmp_path / "cfg.py").write_text("steps = 10\nsteps *= 4\ntotal = steps + 1\n")
    cfg = Config.fromfile(str(tmp_path / "cfg.py"), ["steps", "7"])
    assert cfg.steps == 7 and cfg.total == 8


def test_imported_names_are_re_pinned_after_the_import(tmp_path):
    (tmp_path / "cfg.py").write_text("from math import pi\narea = pi * 2\n")
    cfg = Config.fromfile(str(tmp_path / "cfg.py"), ["pi", "3.0"])
    assert cfg.pi == 3.0 and cfg.area == pytest.approx(6.0)


def test_value_not_assigned_by_a_statement_warns(tmp_path, caplog):
    (tmp_path / "cfg.py").write_text("globals().update(factor=2)\nresult = factor * 3\n")
    with caplog.at_level(logging.WARNING, logger="hat"):
        cfg = Config.fromfile(str(tmp_path / "cfg.py"), ["factor", "5"])
    assert cfg.factor == 5
    assert cfg.result == 6  # could not follow
    assert "keep their old values" in caplog.text


def test_random_tensors_in_configs_are_not_reported_as_derived(tmp_path):
    (tmp_path / "cfg.py").write_text(
        "import torch\nsize = 4\nexample = torch.randn(1, 3)\nshape = (1, size)\n"
    )
    cfg = Config.fromfile(str(tmp_path / "cfg.py"), ["size", "5"])
    assert cfg.derived_changes == {"shape.1": (4, 5)}
