"""The project's command-line tools run as users run them, for the stage-chain tests.

The tiny ``tests/tools/tiny_*_stages_config.py`` configs read their data and checkpoint folders
from ``HAT_TEST_DATA`` and ``HAT_TEST_CKPT``; :func:`stage_folders` makes both under a fresh
temporary folder and the environment that points the tools at them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAIN_STAGES = ("float", "calibration", "qat")
PREDICT_STAGES = ("float", "calibration", "qat", "int_infer")


def run_tool(
    env: dict[str, str], *args: str, timeout: float = 300, ok: bool = True, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run ``python *args`` in ``cwd`` (the repository); with ``ok`` it must exit 0, else the
    assertion shows the command and the end of its output."""
    res = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if ok:
        assert res.returncode == 0, f"{args}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def tool_env(data: Path, ckpt: Path) -> dict[str, str]:
    """The environment of a tool run: one thread, the tiny configs' folders at ``data``/``ckpt``."""
    return dict(os.environ, OMP_NUM_THREADS="1", HAT_TEST_DATA=str(data), HAT_TEST_CKPT=str(ckpt))


def stage_folders(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> tuple[dict[str, str], Path, Path, Path]:
    """``(env, base, data, ckpt)``: a fresh folder ``base`` with ``data`` and ``ckpt`` under it
    and the tool environment pointing at them."""
    base = tmp_path_factory.mktemp(name)
    data, ckpt = base / "data", base / "ckpt"
    return tool_env(data, ckpt), base, data, ckpt


def synthetic_lmdbs(
    env: dict[str, str],
    dataset: str,
    data: Path,
    make_opts: Sequence[str],
    splits: Sequence[str],
    num_workers: int = 0,
) -> None:
    """Generate the synthetic ``dataset`` into ``data`` (``make_opts`` after ``--out``), then
    pack each of ``splits`` into an LMDB with the dataset's packer."""
    run_tool(env, "tools/datasets/make_synthetic.py", dataset, "--out", str(data), *make_opts)
    for split in splits:
        run_tool(
            env, f"tools/datasets/{dataset}_packer.py", "--src-data-dir", str(data),
            "--pack-type", "lmdb", "--num-workers", str(num_workers), "--overwrite",
            "--split-name", split,
        )  # fmt: skip


def flyingchairs_lmdbs(
    env: dict[str, str], data: Path, num_pairs: int = 12, splits: Sequence[str] = ("train", "val")
) -> None:
    """The tiny PwcNet configs' data: ``num_pairs`` synthetic 64x96 FlyingChairs pairs in
    ``data``, ``splits`` packed."""
    make_opts = ["--num-pairs", str(num_pairs), "--seed", "0", "--height", "64", "--width", "96"]
    synthetic_lmdbs(env, "flyingchairs", data, make_opts, splits, num_workers=1)


def tiny_nuscenes_lmdbs(
    env: dict[str, str], raw: Path, data: Path, frames: int, seed: int, splits: Sequence[str]
) -> None:
    """The tiny BEV configs' data: 1 train + 1 val synthetic nuScenes scene of ``frames`` key
    frames at 160x90 in ``raw``, ``splits`` packed into ``data``."""
    run_tool(
        env, "tools/datasets/make_synthetic.py", "nuscenes", "--out", str(raw),
        "--num-train-scenes", "1", "--num-val-scenes", "1", "--frames-per-scene", str(frames),
        "--image-size", "160x90", "--seed", str(seed),
    )  # fmt: skip
    for split in splits:
        run_tool(
            env, "tools/datasets/nuscenes_packer.py", "--src-data-dir", str(raw),
            "--target-data-dir", str(data), "--split-name", split, "--pack-type", "lmdb",
            "--num-workers", "0",
        )  # fmt: skip


def run_stage_chain(env: dict[str, str], cfg: str, validation: Sequence[str]) -> None:
    """Train every training stage, predict every stage, export the integer model and validate
    it on ONNX Runtime with the ``validation`` command (tool path and its options)."""
    for stage in TRAIN_STAGES:
        run_tool(env, "tools/train.py", "--stage", stage, "--config", cfg)
    for stage in PREDICT_STAGES:
        run_tool(env, "tools/predict.py", "--stage", stage, "--config", cfg)
    run_tool(env, "tools/export_hbir.py", "--config", cfg)
    run_tool(env, *validation, "--config", cfg)


def stage_metrics(ckpt: Path, stage: str) -> dict[str, Any]:
    """The metrics file ``{ckpt}/{stage}-metrics.json`` a stage tool wrote."""
    return json.loads((ckpt / f"{stage}-metrics.json").read_text())
