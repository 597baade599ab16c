"""Middlebury ``.flo`` files: ``b"PIEH"`` (float 202021.25), int32 width, height, then
row-major float32 ``(u, v)`` pairs, little-endian."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["read_flo", "write_flo"]

_MAGIC = np.float32(202021.25)


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Write an ``H x W x 2`` flow (``(2, H, W)`` is transposed) to ``path``."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim == 3 and flow.shape[0] == 2 and flow.shape[2] != 2:
        flow = flow.transpose(1, 2, 0)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"write_flo expects an H x W x 2 flow, got shape {flow.shape}")
    h, w = flow.shape[:2]
    with open(path, "wb") as f:
        f.write(np.array([_MAGIC], "<f4").tobytes())
        f.write(np.array([w, h], "<i4").tobytes())
        f.write(np.ascontiguousarray(flow, "<f4").tobytes())


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.flo`` file as an ``H x W x 2`` float32 array."""
    with open(path, "rb") as f:
        magic = np.frombuffer(f.read(4), "<f4")
        if magic.size != 1 or magic[0] != _MAGIC:
            raise ValueError(f"{path}: not a .flo file (bad magic number)")
        w, h = (int(v) for v in np.frombuffer(f.read(8), "<i4"))
        data = np.frombuffer(f.read(), "<f4")
    if data.size != h * w * 2:
        raise ValueError(f"{path}: expected {h * w * 2} floats for {w}x{h}, found {data.size}")
    return data.reshape(h, w, 2).astype(np.float32)
