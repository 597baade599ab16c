"""Config files execute as fresh modules; imports between configs resolve by path."""

from __future__ import annotations

import sys
import textwrap

import pytest

from hat.utils.config import Config, ConfigError


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_public_names_only_and_attribute_access(tmp_path):
    cfg_file = write(
        tmp_path / "cfg.py",
        """
        import os
        from torch import nn
        _hidden = 1
        lr = 0.1
        model = dict(type="M", act=nn.ReLU())
        def loss_collector(x):
            return x
        """,
    )
    cfg = Config.fromfile(str(cfg_file))
    assert set(cfg) == {"lr", "model", "loss_collector"}
    assert cfg.lr == 0.1 and cfg["model"]["type"] == "M"
    assert "lr = 0.1" in cfg.source_text


def test_relative_sibling_and_subfolder_imports(tmp_path):
    write(tmp_path / "base.py", "batch_size = 4\nmodel = dict(type='M', width=8)\n")
    write(
        tmp_path / "common" / "schedule.py",
        "from ..base import batch_size\nsteps = 10 * batch_size\n",
    )
    child = write(
        tmp_path / "child.py",
        """
        from .base import *
        from . import base
        from common.schedule import steps
        import base as base_again
        model["width"] = 16
        float_trainer = dict(model=model, steps=steps, same=base is base_again)
        """,
    )
    cfg = Config.fromfile(str(child))
    assert cfg.float_trainer["steps"] == 40
    assert cfg.float_trainer["same"] is True  # one module per file within a load
    assert cfg.model["width"] == 16 and cfg.float_trainer["model"] is cfg.model
    assert len(cfg.sources) == 3  # child, base, common/schedule


def test_each_load_re_executes_imported_configs(tmp_path):
    base = write(tmp_path / "base.py", "value = 1\n")
    child = write(tmp_path / "child.py", "from .base import value\nresult = value * 2\n")
    assert Config.fromfile(str(child)).result == 2
    base.write_text("value = 5\n")
    assert Config.fromfile(str(child)).result == 10


def test_namespace_package_imports_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    base = write(tmp_path / "cfgroot" / "shared" / "base.py", "value = 1\n")
    child = write(
        tmp_path / "cfgroot" / "exp" / "child.py", "from cfgroot.shared.base import value\n"
    )
    assert Config.fromfile(str(child)).value == 1
    assert "cfgroot.shared.base" not in sys.modules
    base.write_text("value = 2\n")
    assert Config.fromfile(str(child)).value == 2


def test_stage_environment_is_visible_to_the_config(tmp_path, monkeypatch):
    cfg_file = write(
        tmp_path / "cfg.py",
        "import os\ntraining_step = os.environ.get('HAT_TRAINING_STEP', 'float')\n",
    )
    monkeypatch.setenv("HAT_TRAINING_STEP", "qat")
    assert Config.fromfile(str(cfg_file)).training_step == "qat"


def test_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Config.fromfile(str(tmp_path / "missing.py"))
    bad = write(tmp_path / "bad.py", "a = 1\nb = undefined_name + 1\n")
    with pytest.raises(ConfigError, match=r"bad.py:2: NameError"):
        Config.fromfile(str(bad))
    broken = write(tmp_path / "broken.py", "a = (\n")
    with pytest.raises(ConfigError, match="syntax error"):
        Config.fromfile(str(broken))
    missing_base = write(tmp_path / "child.py", "from .nothere import x\n")
    with pytest.raises(ConfigError, match="nothere"):
        Config.fromfile(str(missing_base))


def test_pretty_text_shows_sharing_and_dotted_names(tmp_path):
    cfg_file = write(
        tmp_path / "cfg.py",
        """
        import torch
        model = dict(type="M", sizes=(1, 2))
        float_trainer = dict(model=model, optimizer=dict(type=torch.optim.SGD, lr=0.1))
        """,
    )
    text = Config.fromfile(str(cfg_file)).pretty_text()
    assert "float_trainer = dict(" in text and "model=model" in text
    assert "torch.optim.sgd.SGD" in text
