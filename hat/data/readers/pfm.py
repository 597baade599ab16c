"""PFM (Portable Float Map) files, as used for SceneFlow disparities.

Layout (netpbm): three whitespace-separated ASCII header fields, ``PF`` (3 channels) or ``Pf``
(1 channel), ``<width> <height>``, and a non-zero scale whose sign gives the byte order
(negative: little-endian, positive: big-endian); a single whitespace character; then
``height * width * channels`` float32 values, rows stored from the **bottom** row up.
:func:`read_pfm` returns rows top to bottom, as images are indexed, and the stored values as
they are (the scale is reported by :func:`read_pfm_header`, not applied; SceneFlow's is 1).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import IO

import numpy as np

from hat.data.errors import CorruptFileError
from hat.utils.file_io import atomic_write

__all__ = ["PfmHeader", "read_pfm", "read_pfm_header", "write_pfm"]

_MAX_SIDE = 1 << 16
_MAX_HEADER = 256
# magic, width, height, scale, each followed by whitespace; one whitespace byte ends the header
_HEADER_RE = re.compile(rb"(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s")


@dataclass(frozen=True)
class PfmHeader:
    """What a PFM header says: channels (1 or 3), size, |scale|, byte order, raster offset."""

    channels: int
    width: int
    height: int
    scale: float
    little_endian: bool
    data_offset: int

    @property
    def data_bytes(self) -> int:
        return self.width * self.height * self.channels * 4


def _parse_header(head: bytes, path: str) -> PfmHeader:
    magic = head[:2]
    if magic not in (b"PF", b"Pf") or (len(head) > 2 and not head[2:3].isspace()):
        raise CorruptFileError(
            f"{path}: not a PFM file: starts with {head[:8]!r}, expected 'PF' or 'Pf' and a newline"
        )
    match = _HEADER_RE.match(head)
    if match is None:
        raise CorruptFileError(
            f"{path}: truncated PFM header {head[:64]!r}: expected 'Pf|PF', width, height, scale"
        )
    _, w_txt, h_txt, s_txt = match.groups()
    if not (w_txt.isdigit() and h_txt.isdigit()):
        raise CorruptFileError(
            f"{path}: bad PFM dimensions {w_txt!r} {h_txt!r}: expected two positive integers"
        )
    width, height = int(w_txt), int(h_txt)
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise CorruptFileError(f"{path}: implausible PFM size width={width} height={height}")
    try:
        scale = float(s_txt)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale) or scale == 0.0:
        raise CorruptFileError(
            f"{path}: bad PFM scale {s_txt!r}: expected a non-zero number "
            "(negative = little-endian, positive = big-endian)"
        )
    channels = 3 if magic == b"PF" else 1
    return PfmHeader(channels, width, height, abs(scale), scale < 0, match.end())


def _open(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"PFM file not found: {path}") from None


def read_pfm_header(path: str | os.PathLike) -> PfmHeader:
    """Parse and check the header of the PFM file at ``path``."""
    path = os.fspath(path)
    with _open(path) as f:
        return _parse_header(f.read(_MAX_HEADER), path)


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """Read a PFM file: ``(H, W)`` float32 for ``Pf``, ``(H, W, 3)`` for ``PF``, top row first.

    Raises :class:`CorruptFileError` naming the file when the header is malformed or the file
    does not hold exactly the raster the header announces.
    """
    path = os.fspath(path)
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        header = _parse_header(f.read(_MAX_HEADER), path)
        expected = header.data_offset + header.data_bytes
        if size != expected:
            kind = "truncated" if size < expected else "oversized"
            raise CorruptFileError(
                f"{path}: {kind} PFM file: header says {header.width}x{header.height}x"
                f"{header.channels} float32, so expected {expected} bytes, got {size}"
            )
        f.seek(header.data_offset)
        raw = f.read(header.data_bytes)
    if len(raw) != header.data_bytes:  # the file shrank while being read
        raise CorruptFileError(f"{path}: truncated PFM file while reading")
    dtype = "<f4" if header.little_endian else ">f4"
    shape = (header.height, header.width) + ((3,) if header.channels == 3 else ())
    data = np.frombuffer(raw, dtype).reshape(shape)[::-1]  # stored bottom row first
    return np.ascontiguousarray(data, dtype=np.float32)


def write_pfm(
    path: str | os.PathLike, data: np.ndarray, scale: float = 1.0, little_endian: bool = True
) -> None:
    """Write ``(H, W)`` (``Pf``) or ``(H, W, 3)`` (``PF``) float data as a PFM, atomically.

    Rows are stored bottom to top; ``scale`` (> 0) is written negated for little-endian data.
    """
    arr = np.asarray(data)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or arr.size == 0:
        raise ValueError(
            f"write_pfm({os.fspath(path)}): expected an (H, W) or (H, W, 3) array, got {arr.shape}"
        )
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"write_pfm({os.fspath(path)}): scale must be > 0, got {scale}")
    magic = "PF" if arr.ndim == 3 else "Pf"
    height, width = arr.shape[:2]
    signed = -scale if little_endian else scale
    header = f"{magic}\n{width} {height}\n{signed!r}\n".encode("ascii")
    raster = np.ascontiguousarray(arr[::-1], dtype="<f4" if little_endian else ">f4").tobytes()

    def _write(f: IO[bytes]) -> None:
        f.write(header)
        f.write(raster)

    atomic_write(os.fspath(path), _write)
