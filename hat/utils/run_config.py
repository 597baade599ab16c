"""What the command-line tools read from a config, in one place: :class:`RunConfig`.

A config is a Python file of module-level names (see :mod:`hat.utils.config`). The tools use a
fixed set of them: ``{stage}_trainer``, ``{stage}_predictor``, ``ckpt_dir``, ``task_name``,
``model``/``deploy_model``, ``deploy_inputs``, ``infer_cfg``, ``val_batch_processor``,
``update_metric``, ``compile_cfg``, ``seed``, ``deterministic``. :class:`RunConfig` is the only
code that knows these names and the file names derived from them
(``{ckpt_dir}/{stage}-checkpoint-best.pth.tar``, ``{ckpt_dir}/{task_name}.int.onnx``, ...); a
missing or malformed entry raises :class:`ConfigKeyError`, whose message names the config file,
the key and what was expected.

    run = RunConfig.load("configs/x.py", stage="qat", opts=["ckpt_dir", "'/tmp/c'"])
    spec = run.predictor("qat")                   # dict, for the registry
    path = run.checkpoint("qat", "best")          # /tmp/c/qat-checkpoint-best.pth.tar
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hat.utils.checkpoint import checkpoint_path
from hat.utils.config import load_config
from hat.utils.config_overrides import ConfigError
from hat.utils.run_context import STAGE_ENV

__all__ = ["RunConfig", "ConfigKeyError", "load_stage_config", "with_stage_checkpoint"]

_MISSING = object()


class ConfigKeyError(ConfigError):
    """A config lacks an entry a tool needs, or the entry has the wrong form."""


def load_stage_config(path: str, stage: str | None = None, opts: Sequence[str] | None = None):
    """The one way a tool loads a config: ``HAT_TRAINING_STEP=stage`` is set first (configs read
    it while they execute), then the file runs and ``opts`` apply. Returns the
    :class:`hat.utils.config.Config`; a missing file is a ``ConfigError`` naming it."""
    if stage:
        os.environ[STAGE_ENV] = stage
    return load_config(path, list(opts or []))


class RunConfig:
    """Read-only accessor of the config entries the tools use (``cfg`` stays available)."""

    def __init__(self, cfg: Mapping[str, Any], path: str | None = None) -> None:
        self.cfg = cfg
        self.path = path or getattr(cfg, "filename", "") or "<config>"

    @classmethod
    def load(
        cls, path: str, stage: str | None = None, opts: Sequence[str] | None = None
    ) -> RunConfig:
        """:func:`load_stage_config` wrapped in a :class:`RunConfig`."""
        return cls(load_stage_config(path, stage, opts), path)

    @classmethod
    def of(cls, cfg: Mapping[str, Any] | RunConfig) -> RunConfig:
        """``cfg`` itself when it already is a :class:`RunConfig`, else a new one around it."""
        return cfg if isinstance(cfg, RunConfig) else cls(cfg)

    # ------------------------------------------------------------------ generic access
    def error(self, key: str, expected: str, found: Any = _MISSING) -> ConfigKeyError:
        """The error for entry ``key`` (missing, or holding ``found``)."""
        if found is _MISSING:
            return ConfigKeyError(f"config {self.path} has no '{key}' (expected {expected})")
        shown = repr(found)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return ConfigKeyError(
            f"config {self.path}: '{key}' is a {type(found).__name__} ({shown}); "
            f"expected {expected}"
        )

    def get(self, key: str, default: Any = None) -> Any:
        """The value at dotted ``key`` (``data_loader.dataset.data_path``), else ``default``."""
        node: Any = self.cfg
        for part in key.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, (list, tuple)) and part.lstrip("-").isdigit():
                index = int(part)
                if not -len(node) <= index < len(node):
                    return default
                node = node[index]
            else:
                return default
        return node

    def require(self, key: str, expected: str, kind: type | tuple[type, ...] | None = None) -> Any:
        """The value at dotted ``key``; a :class:`ConfigKeyError` when it is missing (or not a
        ``kind``). ``expected`` says what the tool needs there, for the message."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise self.error(key, expected)
        if kind is not None and not isinstance(value, kind):
            raise self.error(key, expected, value)
        return value

    # ------------------------------------------------------------------ stages
    def stages_with(self, role: str) -> list[str]:
        """Stages having a ``{stage}_{role}`` entry (role: ``trainer``, ``predictor``)."""
        suffix = f"_{role}"
        return sorted(k[: -len(suffix)] for k in self.cfg if str(k).endswith(suffix))

    def _stage_spec(self, stage: str, role: str) -> dict[str, Any]:
        key = f"{stage}_{role}"
        if key not in self.cfg:
            have = ", ".join(self.stages_with(role)) or "none"
            raise ConfigKeyError(f"config {self.path} has no '{key}'; stages with a {role}: {have}")
        spec = self.cfg[key]
        if not isinstance(spec, dict) or "type" not in spec:
            raise self.error(key, f"a dict with a 'type' (the {role} to build)", spec)
        return spec

    def trainer(self, stage: str) -> dict[str, Any]:
        """``{stage}_trainer`` (a registry dict; the tool may add resume entries to it)."""
        return self._stage_spec(stage, "trainer")

    def predictor(self, stage: str) -> dict[str, Any]:
        """``{stage}_predictor`` (a registry dict)."""
        return self._stage_spec(stage, "predictor")

    # ------------------------------------------------------------------ files
    @property
    def ckpt_dir(self) -> str:
        """``ckpt_dir``: where checkpoints, metrics and exported models go."""
        return self.require("ckpt_dir", "the folder of checkpoints and outputs (a str)", str)

    def checkpoint(self, stage: str, kind: str = "best") -> str:
        """``{ckpt_dir}/{stage}-checkpoint-{kind}.pth.tar`` (kind: best, last, epoch-0003)."""
        return checkpoint_path(self.ckpt_dir, f"{stage}-", kind)

    def stage_file(self, stage: str, name: str) -> str:
        """``{ckpt_dir}/{stage}-{name}`` (``metrics.json``, ``config.py``, ...)."""
        return os.path.join(self.ckpt_dir, f"{stage}-{name}")

    @property
    def task_name(self) -> str:
        """``task_name``, else the model's type name (names the exported files)."""
        name = self.cfg.get("task_name")
        if name:
            return str(name)
        model = self.cfg.get("model")
        kind = model.get("type", "model") if isinstance(model, Mapping) else "model"
        return kind if isinstance(kind, str) else getattr(kind, "__name__", "model")

    def onnx_path(self, stage: str) -> str:
        """``{ckpt_dir}/{task_name}.{stage}.onnx`` (stage: float, qat, int)."""
        return os.path.join(self.ckpt_dir, f"{self.task_name}.{stage}.onnx")

    def int_onnx_path(self) -> str:
        """The exported fixed-point model: ``{ckpt_dir}/{task_name}.int.onnx``."""
        return self.onnx_path("int")

    # ------------------------------------------------------------------ models and inputs
    def model_spec(self) -> Mapping[str, Any]:
        """``model`` (the float network, a registry dict)."""
        return self.require("model", "the network as a registry dict", Mapping)

    def deploy_model_spec(self) -> tuple[str, Mapping[str, Any]]:
        """``(key, spec)`` of the network that ships: ``deploy_model`` when the config has one
        (e.g. the segmentation recipe's stride-4 argmax model), else ``model``."""
        for key in ("deploy_model", "model"):
            spec = self.cfg.get(key)
            if isinstance(spec, Mapping):
                return key, spec
        raise self.error("model", "the network as a registry dict (or a 'deploy_model')")

    def deploy_inputs(self) -> dict[str, Any]:
        """``deploy_inputs``: name -> example tensor with the deployed (static) shape."""
        inputs = self.cfg.get("deploy_inputs")
        if isinstance(inputs, Mapping) and inputs:
            return dict(inputs)
        expected = (
            "a non-empty dict of input name -> example tensor, e.g. "
            "dict(img=torch.randn(1, 6, H, W))"
        )
        if inputs is None:
            raise self.error("deploy_inputs", expected)
        raise self.error("deploy_inputs", expected, inputs)

    def infer_spec(self) -> Mapping[str, Any]:
        """``infer_cfg``: the task adapter of the infer tools (e.g. ``dict(type='FlowInfer')``)."""
        return self.require(
            "infer_cfg",
            "the task adapter that reads --model-inputs and writes the pictures, e.g. "
            "infer_cfg = dict(type='FlowInfer')",
            Mapping,
        )

    def infer_task(self) -> Any:
        """The built ``infer_cfg`` task adapter (a :class:`hat.infer.InferTask`)."""
        from hat.infer import InferTask
        from hat.registry import build_from_registry

        task = build_from_registry(dict(self.infer_spec()), "infer_cfg")
        if not isinstance(task, InferTask):
            raise self.error("infer_cfg", "a hat.infer.InferTask adapter", task)
        return task

    def update_metric(self) -> Callable[[Any, Any, Any], None]:
        """``update_metric(metrics, batch, model_outs)``: the task's evaluation metric update."""
        expected = "a top-level function update_metric(metrics, batch, model_outs)"
        fn = self.require("update_metric", expected)
        if not callable(fn):
            raise self.error("update_metric", expected, fn)
        return fn

    def compile_cfg(self) -> dict[str, Any]:
        """``compile_cfg``: compile_perf_hbir's settings (accelerator, run counts; see
        :class:`hat.quantization.perf_report.PerfSettings`); empty when the config has none."""
        values = self.cfg.get("compile_cfg")
        if values is None:
            return {}
        if not isinstance(values, Mapping):
            raise self.error("compile_cfg", "a dict of compile/perf settings", values)
        return dict(values)

    def val_batch_transforms(self) -> list[Any]:
        """``val_batch_processor.batch_transforms`` specs (empty when there are none)."""
        specs = self.get("val_batch_processor.batch_transforms")
        if specs is None:
            return []
        if not isinstance(specs, (list, tuple)):
            raise self.error("val_batch_processor.batch_transforms", "a list of transforms", specs)
        return list(specs)

    # ------------------------------------------------------------------ run settings
    @property
    def seed(self) -> int | None:
        """``seed`` (None: draw one)."""
        seed = self.cfg.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise self.error("seed", "an int (or None for a random seed)", seed)
        return seed

    @property
    def deterministic(self) -> bool:
        """``deterministic``: use deterministic kernels."""
        return bool(self.cfg.get("deterministic"))


def with_stage_checkpoint(spec: Mapping[str, Any], key: str, path: str) -> tuple[dict, str]:
    """A copy of the stage spec ``spec`` (``cfg[key]``) that loads its weights from ``path``.

    When the spec's ``model_convert_pipeline`` loads a checkpoint (``LoadCheckpoint``), the last
    such loader is re-pointed at ``path`` (for ``int_infer`` that is the QAT checkpoint the
    integer model is converted from); otherwise ``checkpoint=path`` is set, loaded after the
    pipeline. Returns ``(spec, how)``, ``how`` saying which of the two happened.
    """
    out = dict(spec)
    pipeline = out.get("model_convert_pipeline")
    converters = pipeline.get("converters") if isinstance(pipeline, Mapping) else None
    if isinstance(converters, (list, tuple)):
        loaders = [
            i
            for i, c in enumerate(converters)
            if isinstance(c, Mapping) and c.get("type") in ("LoadCheckpoint", _load_checkpoint())
        ]
        if loaders:
            new = list(converters)
            new[loaders[-1]] = dict(converters[loaders[-1]], checkpoint_path=path)
            out["model_convert_pipeline"] = dict(pipeline, converters=new)
            return out, f"{key}.model_convert_pipeline.converters[{loaders[-1]}].checkpoint_path"
    out["checkpoint"] = path
    return out, f"{key}.checkpoint"


def _load_checkpoint() -> Any:
    from hat.quantization.converters import LoadCheckpoint

    return LoadCheckpoint
