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

from hat.data.codecs.arrays import as_float32, decode_img, frombuffer
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


def decode_pair(value: Any, to_rgb: bool = True, where: str = "", copy: bool = True) -> FlowPair:
    """Decode a value (as returned by msgpack) into a :class:`FlowPair`.

    ``bin`` fields may be ``bytes`` or memoryviews (:meth:`~hat.data.pack_type.LmdbReader.view`).
    With ``copy`` (the default) every array is writable and owns its memory, made by one copy
    (or decode) from its field. With ``copy=False`` raw-encoded images and the flow may be
    read-only views of ``value``'s buffers, valid only as long as those are: for a consumer that
    copies them at once (see ``ToTensor.copies_input``). ``where`` (e.g.
    ``"<lmdb path> key b'3'"``) prefixes error messages.
    """
    if isinstance(value, (bytes, memoryview)):
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
            decode_img(value[k], fmt, height, width, to_rgb, copy, f"{where} {k}")
            for k in ("img1", "img2")
        ]
        flow = frombuffer(value["flow"], "<f4", (height, width, 2), f"{where} flow")
        return FlowPair(imgs[0], imgs[1], as_float32(flow, copy), int(value["img_name"]))
    except KeyError as exc:
        raise CorruptFileError(f"{where}: FlyingChairs value lacks field {exc.args[0]!r}") from None


def _decode_hat_blob(blob: bytes | memoryview, to_rgb: bool, where: str) -> FlowPair:
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
