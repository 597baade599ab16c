"""The LMDB value schema of a Cityscapes sample.

Each value is ``msgpack.packb`` of the dict::

    {
        "schema": "hat.cityscapes/1",
        "img_name": str,          # "{city}_{seq:06d}_{frame:06d}", e.g. "aachen_000000_000019"
        "city": str,
        "shape": [H, W],
        "img_format": "png" | "raw",
        "img": bytes,             # png: the leftImg8bit PNG file as is; raw: H*W*3 uint8 RGB
        "gt_seg": bytes,          # the gtFine_labelIds PNG file as is: raw labelIds, NOT remapped
    }

Default ``"png"``: the packer copies the source files' bytes (no re-encoding, bit-exact by
construction, smallest). ``"raw"`` stores decoded pixels: no PNG decode when reading, at about
3x the size of a real Cityscapes PNG (6 MiB per 2048x1024 image). The label is always the
original PNG: labelIds compress ~50x and decode in a few milliseconds.

Values written by Horizon's HAT (a msgpack ``bin``: uint16[2] shape, a PNG encoded from the RGB
array, then H*W uint8 labelIds) are decoded too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hat.data.codecs.arrays import decode_img, decode_rgb_png
from hat.data.codecs.record import check_img_format, check_schema, record_fields
from hat.data.errors import CorruptFileError
from hat.data.readers.cityscapes_layout import check_label_array

__all__ = ["IMG_FORMATS", "SCHEMA", "SegSample", "decode_sample", "encode_sample"]

SCHEMA = "hat.cityscapes/1"
IMG_FORMATS = ("png", "raw")


@dataclass
class SegSample:
    """One decoded sample: ``img`` (H, W, 3) uint8, ``gt_seg`` (H, W) uint8 raw labelIds."""

    img: np.ndarray
    gt_seg: np.ndarray
    img_name: str
    city: str = ""


def encode_sample(
    img_png: bytes,
    label_png: bytes,
    img_name: str,
    city: str = "",
    img_format: str = "png",
    where: str = "",
    label_where: str = "",
) -> dict[str, Any]:
    """Build the msgpack-ready value from the two files' bytes; decodes both to check them.

    ``where`` / ``label_where`` (the image / label paths) name the files in error messages.
    """
    label_where = label_where or f"{where} label"
    check_img_format(img_format, IMG_FORMATS)
    img = _imdecode(img_png, cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or img.dtype != np.uint8:
        got = None if img is None else f"{img.shape} {img.dtype}"
        raise CorruptFileError(f"{where}: unreadable image: expected a PNG, decoded {got}")
    label = check_label_array(_imdecode(label_png, cv2.IMREAD_UNCHANGED), label_where)
    if img.shape[:2] != label.shape:
        raise CorruptFileError(
            f"image and label sizes differ: {where} is {img.shape[1]}x{img.shape[0]}, "
            f"{label_where} is {label.shape[1]}x{label.shape[0]} (WxH)"
        )
    if img_format == "raw":
        payload = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).tobytes()
    else:
        payload = bytes(img_png)
    return {
        "schema": SCHEMA,
        "img_name": str(img_name),
        "city": str(city),
        "shape": [int(label.shape[0]), int(label.shape[1])],
        "img_format": img_format,
        "img": payload,
        "gt_seg": bytes(label_png),
    }


def _imdecode(buf: bytes, flags: int) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(buf, np.uint8), flags)


def decode_sample(value: Any, to_rgb: bool = True, where: str = "", copy: bool = True) -> SegSample:
    """Decode a value (as returned by msgpack) into a :class:`SegSample`.

    ``bin`` fields may be ``bytes`` or memoryviews (:meth:`~hat.data.pack_type.LmdbReader.view`).
    With ``copy`` (the default) every array is writable and owns its memory; with
    ``copy=False`` a raw-encoded image may be a read-only view of ``value``'s buffer, valid only
    as long as that is (the label is always decoded into a new array). ``where`` (e.g.
    ``"<lmdb path> key b'3'"``) prefixes error messages.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _decode_hat_blob(value, to_rgb, where)
    check_schema(value, SCHEMA, "Cityscapes", where)
    with record_fields("Cityscapes", where):
        height, width = value["shape"]
        img = decode_img(value["img"], value["img_format"], height, width, to_rgb, copy, where)
        label = check_label_array(_imdecode(value["gt_seg"], cv2.IMREAD_UNCHANGED), where)
        if label.shape != (height, width):
            raise CorruptFileError(f"{where}: label is {label.shape}, expected {(height, width)}")
        return SegSample(img, label, str(value["img_name"]), str(value.get("city", "")))


def _decode_hat_blob(blob: bytes | bytearray | memoryview, to_rgb: bool, where: str) -> SegSample:
    """HAT's layout: uint16[2] (H, W), a PNG encoded from the RGB array, H*W uint8 labelIds."""
    if len(blob) < 4:
        raise CorruptFileError(f"{where}: HAT blob of {len(blob)} bytes is shorter than its header")
    height, width = (int(v) for v in np.frombuffer(blob, "<u2", count=2))
    label_size = height * width
    if len(blob) <= 4 + label_size:
        raise CorruptFileError(
            f"{where}: HAT blob of {len(blob)} bytes cannot hold a {width}x{height} label and a PNG"
        )
    img = decode_rgb_png(blob[4 : len(blob) - label_size], to_rgb)
    if img is None or img.shape[:2] != (height, width):
        raise CorruptFileError(f"{where}: HAT blob holds an undecodable or mis-sized PNG")
    label = np.frombuffer(blob, np.uint8, offset=len(blob) - label_size).reshape(height, width)
    return SegSample(img, label.copy(), "", "")
