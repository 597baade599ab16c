"""Middlebury ``.flo`` optical-flow files.

Layout (little-endian): float32 tag 202021.25 (``b"PIEH"``), int32 width, int32 height, then
``height * width * 2`` float32 values, u and v interleaved, rows from the top.
"""

from __future__ import annotations

import os

import numpy as np

from hat.data.errors import CorruptFileError

__all__ = ["FLO_MAGIC", "read_flo", "write_flo"]

FLO_MAGIC = 202021.25
_HEADER_BYTES = 12
_MAX_SIDE = 1 << 16


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.flo`` file into an ``(H, W, 2)`` float32 array (u, v in pixels)."""
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"flow file not found: {path}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        header = f.read(_HEADER_BYTES)
        if len(header) < _HEADER_BYTES:
            raise CorruptFileError(
                f"{path}: truncated .flo file: expected at least {_HEADER_BYTES} header bytes, "
                f"got {len(header)}"
            )
        magic = float(np.frombuffer(header, "<f4", count=1)[0])
        if magic != FLO_MAGIC:
            raise CorruptFileError(
                f"{path}: not a Middlebury .flo file: magic {magic!r} (bytes {header[:4]!r}), "
                f"expected {FLO_MAGIC} (b'PIEH')"
            )
        width, height = (int(v) for v in np.frombuffer(header, "<i4", count=2, offset=4))
        if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
            raise CorruptFileError(f"{path}: implausible .flo size width={width} height={height}")
        expected = _HEADER_BYTES + width * height * 2 * 4
        if size != expected:
            kind = "truncated" if size < expected else "oversized"
            raise CorruptFileError(
                f"{path}: {kind} .flo file: header says {width}x{height}, so expected "
                f"{expected} bytes, got {size}"
            )
        flow = np.fromfile(f, "<f4", count=width * height * 2)
    if flow.size != width * height * 2:  # the file shrank while being read
        raise CorruptFileError(f"{path}: truncated .flo file while reading")
    return flow.reshape(height, width, 2).astype(np.float32, copy=False)


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Write an ``(H, W, 2)`` flow array as a ``.flo`` file."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(
            f"write_flo({os.fspath(path)}): expected an (H, W, 2) array, got {flow.shape}"
        )
    height, width = flow.shape[:2]
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())
