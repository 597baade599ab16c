"""Helpers for engine tests: run the real tools in subprocesses, read checkpoints/records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY_CONFIG = os.path.join(REPO, "tests", "engine", "toy_config.py")


def run_tool(tool: str, *args: str, cwd: str | None = None, timeout: int = 120):
    """``python tools/{tool}.py args...`` in ``cwd`` (default: a fresh temp dir, so the
    ``.hat_logs`` folder does not land in the repository); returns the CompletedProcess."""
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", f"{tool}.py"), *args],
        cwd=cwd or tempfile.mkdtemp(prefix="hat_tool_test_"),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def opts(**values: Any) -> list[str]:
    """``--opts`` arguments with values written as Python literals."""
    out = ["--opts"]
    for key, value in values.items():
        out += [key.replace("__", "."), repr(value)]
    return out


def load_weights(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def read_records(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
