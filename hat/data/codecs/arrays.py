"""Arrays out of packed fields, shared by the codecs: each field is copied at most once.

A field is ``bytes`` (``msgpack.unpackb``) or a read-only memoryview of an LMDB memory map
(:meth:`~hat.data.pack_type.LmdbReader.view`). With ``copy=True`` the result is writable and owns
its memory (one copy, or one decode); with ``copy=False`` it may be a read-only view of the
field, for a consumer that copies it before the field's buffer goes away.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hat.data.errors import CorruptFileError

__all__ = [
    "IMG_FORMATS",
    "as_float32",
    "decode_img",
    "decode_rgb_png",
    "encode_rgb_png",
    "frombuffer",
]

IMG_FORMATS = ("raw", "png")


def frombuffer(
    buf: bytes | memoryview, dtype: str, shape: tuple[int, ...], where: str
) -> np.ndarray:
    """A read-only ``shape`` view of ``buf``; a size mismatch raises naming ``where``."""
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if len(buf) != expected:
        raise CorruptFileError(
            f"{where}: expected {expected} bytes for {shape} {dtype}, got {len(buf)}"
        )
    return np.frombuffer(buf, dtype).reshape(shape)


def as_float32(view: np.ndarray, copy: bool) -> np.ndarray:
    """``view`` (e.g. little-endian float32) as native float32: one copy, or none if allowed."""
    if copy:
        return np.array(view, dtype=np.float32)
    return view.astype(np.float32, copy=False)


def decode_img(
    buf: bytes | memoryview,
    fmt: str,
    height: int,
    width: int,
    to_rgb: bool,
    copy: bool,
    where: str,
) -> np.ndarray:
    """A stored ``(height, width, 3)`` image: ``"raw"`` RGB pixels or a ``"png"`` file.

    RGB when ``to_rgb`` else BGR. PNGs always decode to a new writable array; without ``copy``,
    a raw image is a read-only view of ``buf`` (BGR: a channel-reversed view).
    """
    if fmt == "raw":
        img = frombuffer(buf, "u1", (height, width, 3), where)  # stored RGB
        if to_rgb:
            return img.copy() if copy else img
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if copy else img[..., ::-1]
    if fmt == "png":
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)  # BGR
        if img is None or img.shape != (height, width, 3):
            got = None if img is None else img.shape
            raise CorruptFileError(
                f"{where}: bad PNG image: expected ({height}, {width}, 3), decoded {got}"
            )
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img) if to_rgb else img
    raise CorruptFileError(f"{where}: unknown img_format {fmt!r}: expected one of {IMG_FORMATS}")


def encode_rgb_png(img_rgb: np.ndarray) -> bytes:
    """A PNG file (fast compression, level 1) of an ``(H, W, 3)`` uint8 RGB image."""
    bgr = np.ascontiguousarray(img_rgb[..., ::-1])
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_rgb_png(buf: bytes | memoryview, to_rgb: bool) -> np.ndarray | None:
    """A PNG encoded by ``cv2.imencode`` from an RGB array (as Horizon's HAT stored images):
    ``imdecode`` gives RGB back, reversed to BGR unless ``to_rgb``; None if undecodable."""
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return img if to_rgb else np.ascontiguousarray(img[..., ::-1])
