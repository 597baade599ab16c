"""Normalized, JSON-able snapshots of resolved configs, for comparing two versions of them.

A snapshot of one config file at one stage (``HAT_TRAINING_STEP``) holds:

* ``values``: every public top-level name, fully expanded. Dicts and lists become JSON objects
  and arrays; tuples are tagged; classes and functions are shown by qualified name (functions
  defined in a config file also by a digest of their bytecode, so a changed body shows);
  tensors by shape and dtype (their values are random); other objects by ``repr``. A container
  met a second time inside the same top-level value is written as ``{"$ref": path}``: the
  registry builds such a dict once and shares the object, so the aliasing is behaviour.
* ``shared``: for every container reachable from two or more paths (anywhere in the config),
  the sorted list of those paths. A dotted ``--opts`` override or an in-place edit in a derived
  config changes all of them together, so this is behaviour too.

``python tests/configs/config_snapshot.py DIR`` writes the snapshots of every config in
:data:`CONFIGS` at every stage in :data:`STAGES` to ``DIR`` (one JSON file each).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]

CONFIGS = [
    "configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs.py",
    "configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs_demo.py",
    "configs/segmentation/unet_mobilenetv1_cityscapes.py",
    "configs/segmentation/unet_mobilenetv1_cityscapes_demo.py",
    "configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow.py",
    "configs/disparity_pred/stereonet/stereonet_stereonetneck_sceneflow_demo.py",
    "configs/bev/bev_ipm_efficientnetb0_multitask_nuscenes.py",
    "configs/bev/bev_ipm_efficientnetb0_multitask_nuscenes_demo.py",
    "configs/track_pred/motr_efficientnetb3_mot17.py",
    "configs/track_pred/motr_efficientnetb3_mot17_demo.py",
    "tests/tools/tiny_pwcnet_stages_config.py",
    "tests/tools/tiny_unet_stages_config.py",
    "tests/tools/tiny_stereonet_stages_config.py",
    "tests/tools/tiny_bev_stages_config.py",
    "tests/models/tiny_pwcnet_config.py",
    "tests/engine/toy_config.py",
]
STAGES = ["float", "calibration", "qat", "int_infer", "align_bpu", "finetune"]
# Environment the tiny test configs read their folders from; fixed so snapshots compare.
FIXED_ENV = {"HAT_TEST_DATA": "/snapshot/data", "HAT_TEST_CKPT": "/snapshot/ckpt"}


def snapshot_name(config: str, stage: str) -> str:
    return config.replace("/", "__").removesuffix(".py") + f"@{stage}.json"


@contextlib.contextmanager
def _environment(stage: str) -> Iterator[None]:
    keys = ["HAT_TRAINING_STEP", *FIXED_ENV]
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(FIXED_ENV, HAT_TRAINING_STEP=stage)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load(config: str, stage: str) -> dict[str, Any]:
    """The resolved config at ``stage``, loaded exactly as the tools load it."""
    from hat.utils.config import Config

    with _environment(stage):
        return dict(Config.fromfile(str(ROOT / config)))


def _code_digest(code: types.CodeType) -> str:
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            parts.append(_code_digest(const).encode())
        elif not isinstance(const, str):  # docstrings and messages may be reworded
            parts.append(repr(const).encode())
    return hashlib.sha1(b"|".join(parts)).hexdigest()[:12]


def _callable_name(value: Any) -> dict[str, str]:
    module = getattr(value, "__module__", "") or ""
    if module.startswith("_hat_config_"):
        out = {"config_callable": value.__qualname__.rpartition(".<locals>.")[2]}
        code = getattr(value, "__code__", None)
        if code is not None:
            out["code"] = _code_digest(code)
        return out
    return {"callable": f"{module}.{value.__qualname__}"}


def _leaf(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if value is None or type(value) in (bool, str, int, float):
        return value
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        if getattr(value, "shape", None) == () and not isinstance(value, torch.Tensor):
            return {"scalar": type(value).__name__, "value": value.item()}
        shape, dtype = list(value.shape), str(value.dtype)
        return {"array": type(value).__name__, "shape": shape, "dtype": dtype}
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return _callable_name(value)
    if isinstance(value, torch.nn.Module):
        return {"module": type(value).__qualname__, "repr": repr(value)}
    return {"object": type(value).__qualname__, "repr": repr(value)}


def _expand(value: Any, path: str, seen: dict[int, str]) -> Any:
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen and isinstance(value, (dict, list)):
            return {"$ref": seen[id(value)]}
        if isinstance(value, (dict, list)):
            seen[id(value)] = path
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                key = k if isinstance(k, str) else f"<{type(k).__name__}>{k!r}"
                out[key] = _expand(v, f"{path}.{key}", seen)
            return out
        items = [_expand(v, f"{path}[{i}]", seen) for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"tuple": items}
    return _leaf(value)


def _paths(value: Any, path: str, out: dict[int, list[str]], stack: tuple[int, ...]) -> None:
    if not isinstance(value, (dict, list, tuple)) or id(value) in stack:
        return
    if isinstance(value, (dict, list)):
        out.setdefault(id(value), []).append(path)
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for k, v in items:
        sub = f"{path}.{k}" if isinstance(value, dict) else f"{path}[{k}]"
        _paths(v, sub, out, stack + (id(value),))


def snapshot(cfg: dict[str, Any]) -> dict[str, Any]:
    """The normalized form of a resolved config (see the module docstring)."""
    public = {k: cfg[k] for k in sorted(cfg)}
    values = {k: _expand(v, k, {}) for k, v in public.items()}
    occurrences: dict[int, list[str]] = {}
    for k, v in public.items():
        _paths(v, k, occurrences, ())
    shared = sorted(sorted(p) for p in occurrences.values() if len(p) > 1)
    return {"values": values, "shared": shared}


def write_snapshots(out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for config in CONFIGS:
        for stage in STAGES:
            data = snapshot(load(config, stage))
            target = os.path.join(out_dir, snapshot_name(config, stage))
            with open(target, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/configs/config_snapshot.py OUT_DIR")
    sys.path.insert(0, str(ROOT))
    print(f"{len(write_snapshots(sys.argv[1]))} snapshots written to {sys.argv[1]}")
