"""Writing the pictures of :mod:`hat.visualize` to files."""

from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["write_rgb_png"]


def write_rgb_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an ``H x W x 3`` uint8 RGB picture as a PNG, creating its folder; ``OSError`` naming
    ``path`` when it cannot be written."""
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    if not cv2.imwrite(os.fspath(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write image {path}")
