"""Registry: shared instances, unknown-type suggestions, error paths, surfaced ImportErrors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from hat.registry import OBJECT_REGISTRY, BuildError, build_from_registry


class Head:
    def __init__(self, md: int = 4) -> None:
        self.md = md


class Task:
    def __init__(self, backbone=None, head=None) -> None:
        self.backbone, self.head = backbone, head


class Trainer:
    def __init__(self, model=None, val_model=None) -> None:
        self.model, self.val_model = model, val_model


def test_same_dict_twice_is_one_instance():
    model = dict(type=Task, head=dict(type=Head))
    trainer = build_from_registry(dict(type=Trainer, model=model, val_model=model))
    assert trainer.model is trainer.val_model
    other = build_from_registry(dict(type=Trainer, model=model))
    assert other.model is not trainer.model  # memo is per build call


def test_unknown_type_suggests_close_names():
    with pytest.raises(BuildError) as info:
        build_from_registry(dict(type="StatsMonitr", log_freq=1), path="float_trainer.callbacks[0]")
    message = str(info.value)
    assert message.startswith("float_trainer.callbacks[0].type:")
    assert "'StatsMonitor'" in message


def test_constructor_error_names_the_config_path():
    cfg = dict(type=Trainer, model=dict(type=Task, head=dict(type=Head, mdd=3)))
    with pytest.raises(BuildError) as info:
        build_from_registry(cfg, path="float_trainer")
    assert str(info.value) == (
        "float_trainer.model.head: Head() got an unexpected keyword argument 'mdd'"
    )


def test_engine_names_are_registered():
    for name in [
        "Trainer", "distributed_data_parallel_trainer", "DistributedDataParallelTrainer",
        "Predictor", "BasicBatchProcessor", "MultiBatchProcessor", "StatsMonitor",
        "MetricUpdater", "CosLrUpdater", "StepDecayLrUpdater", "CyclicLrUpdater", "Validation",
        "Checkpoint", "TensorBoard", "GradClip", "GradScale", "FreezeBNStatistics", "LossShow",
        "ResumableDistributedSampler",
    ]:  # fmt: skip
        assert name in OBJECT_REGISTRY, name


def test_import_failure_is_shown_in_not_registered_errors(tmp_path, monkeypatch):
    pkg = tmp_path / "brokenpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from hat.registry import Registry\nREG = Registry('TEST')\n")
    (pkg / "good.py").write_text(
        "from brokenpkg import REG\n@REG.register\nclass Good:\n    pass\n"
    )
    (pkg / "bad.py").write_text(
        textwrap.dedent(
            """
            import not_a_real_module_xyz
            from brokenpkg import REG
            @REG.register
            class Bad:
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        from brokenpkg import REG

        REG.import_all("brokenpkg")
        assert REG.get("Good").__name__ == "Good"
        with pytest.raises(KeyError) as info:
            REG.get("Bad")
        message = info.value.args[0]
        assert "'Bad' is not registered in TEST" in message
        expected = "brokenpkg.bad: ModuleNotFoundError: No module named 'not_a_real_module_xyz'"
        assert expected in message
    finally:
        for name in [m for m in sys.modules if m.startswith("brokenpkg")]:
            del sys.modules[name]
