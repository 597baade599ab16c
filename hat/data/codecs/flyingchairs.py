"""The LMDB value schema of a FlyingChairs sample.

Each value is ``msgpack.packb`` of the dict::

    {
        "schema": "hat.flyingchairs/1",
        "img_name": int,          # 1-based pair number (00001_img1.ppm -> 1)
        "shape": [H, W],
        "img_format": "raw" | "png",
        "img1": bytes,            # raw: H*W*3 uint8, RGB, row-major; png: a standard PNG
        "img2": bytes,
        "flow": bytes,            # H*W*2 float32 little-endian, u/v interleaved, row-major
    }

``"raw"`` (the default) stores pixels uncompressed: decoding is a memory copy, ~10x faster than
PNG decoding, at ~20% more space on photographs (the flow, incompressible float32, is over half
of each sample anyway). ``"png"`` is lossless and smaller.

Values written by Horizon's HAT (a msgpack ``bin`` holding int64 name, uint16[3] flow shape,
int64[2] PNG lengths, two PNGs encoded from RGB arrays, float64 flow) are decoded too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hat.data.errors import CorruptFileError

__all__ = ["IMG_FORMATS", "SCHEMA", "FlowPair", "decode_pair", "encode_pair"]

SCHEMA = "hat.flyingchairs/1"
IMG_FORMATS = ("raw", "png")


@dataclass
class FlowPair:
    """One decoded sample: two ``(H, W, 3)`` uint8 images, ``(H, W, 2)`` float32 flow."""

    img1: np.ndarray
    img2: np.ndarray
    flow: np.ndarray
    img_name: int


def encode_pair(
    img1_rgb: np.ndarray,
    img2_rgb: np.ndarray,
    flow: np.ndarray,
    img_name: int,
    img_format: str = "raw",
) -> dict[str, Any]:
    """Build the msgpack-ready value dict from RGB images and flow."""
    if img_format not in IMG_FORMATS:
        raise ValueError(f"unknown img_format {img_format!r}: expected one of {IMG_FORMATS}")
    height, width = flow.shape[:2]
    for name, img in (("img1", img1_rgb), ("img2", img2_rgb)):
        if img.shape != (height, width, 3) or img.dtype != np.uint8:
            raise ValueError(
                f"pair {img_name}: {name} is {img.shape} {img.dtype}, expected "
                f"({height}, {width}, 3) uint8 to match the flow {flow.shape}"
            )
    if img_format == "raw":
        enc1, enc2 = (np.ascontiguousarray(i).tobytes() for i in (img1_rgb, img2_rgb))
    else:
        enc1, enc2 = (_png(i[..., ::-1]) for i in (img1_rgb, img2_rgb))
    return {
        "schema": SCHEMA,
        "img_name": int(img_name),
        "shape": [int(height), int(width)],
        "img_format": img_format,
        "img1": enc1,
        "img2": enc2,
        "flow": np.ascontiguousarray(flow, dtype="<f4").tobytes(),
    }


def _png(img_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img_bgr), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_pair(value: Any, to_rgb: bool = True, where: str = "") -> FlowPair:
    """Decode a value (as returned by msgpack) into a :class:`FlowPair`.

    ``where`` (e.g. ``"<lmdb path> key b'3'"``) prefixes error messages.
    """
    if isinstance(value, bytes):
        return _decode_hat_blob(value, to_rgb, where)
    if not isinstance(value, dict) or value.get("schema") != SCHEMA:
        got = value.get("schema") if isinstance(value, dict) else type(value).__name__
        raise CorruptFileError(
            f"{where}: not a FlyingChairs value: expected schema {SCHEMA!r}, got {got!r}"
        )
    try:
        height, width = value["shape"]
        fmt = value["img_format"]
        imgs = [
            _decode_img(value[k], fmt, height, width, to_rgb, f"{where} {k}")
            for k in ("img1", "img2")
        ]
        flow = _frombuffer(value["flow"], "<f4", (height, width, 2), f"{where} flow")
        return FlowPair(imgs[0], imgs[1], flow.astype(np.float32), int(value["img_name"]))
    except KeyError as exc:
        raise CorruptFileError(f"{where}: FlyingChairs value lacks field {exc.args[0]!r}") from None


def _frombuffer(buf: bytes, dtype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if len(buf) != expected:
        raise CorruptFileError(
            f"{where}: expected {expected} bytes for {shape} {dtype}, got {len(buf)}"
        )
    return np.frombuffer(buf, dtype).reshape(shape)  # read-only view: callers copy


def _decode_img(
    buf: bytes, fmt: str, height: int, width: int, to_rgb: bool, where: str
) -> np.ndarray:
    if fmt == "raw":
        img = _frombuffer(buf, "u1", (height, width, 3), where)  # stored RGB
        return img.copy() if to_rgb else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if fmt == "png":
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)  # BGR
        if img is None or img.shape != (height, width, 3):
            got = None if img is None else img.shape
            raise CorruptFileError(
                f"{where}: bad PNG: expected ({height}, {width}, 3), decoded {got}"
            )
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if to_rgb else img
    raise CorruptFileError(f"{where}: unknown img_format {fmt!r}: expected one of {IMG_FORMATS}")


def _decode_hat_blob(blob: bytes, to_rgb: bool, where: str) -> FlowPair:
    """HAT's layout: int64 name, uint16[3] flow shape, int64[2] PNG sizes, PNGs, float64 flow."""
    header = 8 + 6 + 16
    if len(blob) < header:
        raise CorruptFileError(f"{where}: HAT blob of {len(blob)} bytes is shorter than its header")
    name = int(np.frombuffer(blob, "<i8", count=1)[0])
    height, width, ch = (int(v) for v in np.frombuffer(blob, "<u2", count=3, offset=8))
    len1, len2 = (int(v) for v in np.frombuffer(blob, "<i8", count=2, offset=14))
    flow_bytes = height * width * ch * 8
    if len(blob) != header + len1 + len2 + flow_bytes:
        raise CorruptFileError(
            f"{where}: HAT blob: expected {header + len1 + len2 + flow_bytes} bytes, "
            f"got {len(blob)}"
        )
    imgs = []
    for start, n in ((header, len1), (header + len1, len2)):
        # HAT encoded RGB arrays with cv2.imencode, so imdecode gives RGB back
        img = cv2.imdecode(np.frombuffer(blob, np.uint8, count=n, offset=start), cv2.IMREAD_COLOR)
        if img is None:
            raise CorruptFileError(f"{where}: HAT blob holds an undecodable PNG")
        imgs.append(img if to_rgb else np.ascontiguousarray(img[..., ::-1]))
    flow = np.frombuffer(blob, "<f8", offset=header + len1 + len2).reshape(height, width, ch)
    return FlowPair(imgs[0], imgs[1], flow[..., :2].astype(np.float32), name)
