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

import numpy as np

from hat.data.codecs.arrays import (
    as_float32,
    decode_img,
    decode_rgb_png,
    encode_rgb_png,
    frombuffer,
)
from hat.data.codecs.record import check_img_format, check_rgb_images, check_schema, record_fields
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
    check_img_format(img_format, IMG_FORMATS)
    height, width = flow.shape[:2]
    images = (("img1", img1_rgb), ("img2", img2_rgb))
    check_rgb_images(images, (height, width), f"pair {img_name}", f"flow {flow.shape}")
    if img_format == "raw":
        enc1, enc2 = (np.ascontiguousarray(i).tobytes() for i in (img1_rgb, img2_rgb))
    else:
        enc1, enc2 = (encode_rgb_png(i) for i in (img1_rgb, img2_rgb))
    return {
        "schema": SCHEMA,
        "img_name": int(img_name),
        "shape": [int(height), int(width)],
        "img_format": img_format,
        "img1": enc1,
        "img2": enc2,
        "flow": np.ascontiguousarray(flow, dtype="<f4").tobytes(),
    }


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
    check_schema(value, SCHEMA, "FlyingChairs", where)
    with record_fields("FlyingChairs", where):
        height, width = value["shape"]
        fmt = value["img_format"]
        imgs = [
            decode_img(value[k], fmt, height, width, to_rgb, copy, f"{where} {k}")
            for k in ("img1", "img2")
        ]
        flow = frombuffer(value["flow"], "<f4", (height, width, 2), f"{where} flow")
        return FlowPair(imgs[0], imgs[1], as_float32(flow, copy), int(value["img_name"]))


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
        img = decode_rgb_png(blob[start : start + n], to_rgb)
        if img is None:
            raise CorruptFileError(f"{where}: HAT blob holds an undecodable PNG")
        imgs.append(img)
    flow = np.frombuffer(blob, "<f8", offset=header + len1 + len2).reshape(height, width, ch)
    return FlowPair(imgs[0], imgs[1], flow[..., :2].astype(np.float32), name)
