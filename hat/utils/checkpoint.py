"""Checkpoint files: atomic ``torch.save`` and ``weights_only`` loading with clear errors.

A checkpoint is a dict of tensors, containers and primitives only (see
:mod:`hat.engine.train_state` for the schema), so it always loads with
``torch.load(path, weights_only=True)``: no pickled code runs when a file is opened.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from hat.utils.file_io import atomic_write

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_path",
    "model_state_from",
    "CheckpointError",
]


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable or lacks an expected entry."""


def checkpoint_path(save_dir: str, name_prefix: str, kind: str) -> str:
    """``{save_dir}/{name_prefix}checkpoint-{kind}.pth.tar`` (kind: last, best, epoch-0003)."""
    return os.path.join(save_dir, f"{name_prefix}checkpoint-{kind}.pth.tar")


def save_checkpoint(state: dict[str, Any], path: str) -> None:
    """Write ``state`` to ``path`` atomically (the old file survives any failure)."""
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        reason = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"cannot load checkpoint {path}: {reason}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, expected a dict")
    return state


def model_state_from(state: dict[str, Any], path: str = "<checkpoint>") -> dict[str, Any]:
    """The model weights of a checkpoint (``state_dict`` entry, or the dict itself if bare)."""
    if "state_dict" in state:
        return state["state_dict"]
    if all(isinstance(v, torch.Tensor) for v in state.values()):
        return state
    raise CheckpointError(f"{path} has no 'state_dict' entry (keys: {sorted(state)})")
