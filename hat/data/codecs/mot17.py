"""The LMDB value schema of one MOT17 frame.

Each value is ``msgpack.packb`` of the dict::

    {
        "schema": "hat.mot17/1",
        "img_format": "jpg",
        "img": bytes,              # the image file's bytes as stored (JPEG)
        "seq_name": str,           # e.g. "MOT17-02-FRCNN"
        "frame_id": int,           # 1-based within the (split) sequence
        "height": int, "width": int,
        "frame_rate": int,
        "seq_length": int,         # frames of the sequence
        "num_gt": int,             # N
        "gt_bboxes": bytes,        # (N, 4) float32 little-endian, x1 y1 x2 y2 pixels
        "gt_ids": bytes,           # (N,) int64, video_index * 1_000_000 + gt.txt id
        "gt_classes": bytes,       # (N,) int64, MOT classes (1 pedestrian, 7 static person, ...)
        "gt_consider": bytes,      # (N,) uint8, gt.txt's consider flag
        "gt_visibility": bytes,    # (N,) float32 in [0, 1]
    }

``x2 = left + width`` and ``y2 = top + height`` of the ``gt.txt`` row. The frames of one sequence
are stored under consecutive keys in frame order, so record ``i`` with ``frame_id`` f starts its
sequence at key ``i - f + 1`` (:func:`read_frame_header` reads that without decoding the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hat.data.codecs.arrays import frombuffer
from hat.data.codecs.record import check_img_format, check_schema, record_fields
from hat.data.errors import CorruptFileError

__all__ = [
    "GT_FIELDS",
    "ID_OFFSET",
    "IMG_FORMATS",
    "SCHEMA",
    "FrameHeader",
    "Mot17Frame",
    "decode_frame",
    "encode_frame",
    "jpeg_size",
    "read_frame_header",
]

SCHEMA = "hat.mot17/1"
IMG_FORMATS = ("jpg",)
#: Track ids are made global as HAT does: ``video_index * ID_OFFSET + id``.
ID_OFFSET = 1_000_000
#: The per-box arrays: name -> (stored dtype, trailing shape).
GT_FIELDS: dict[str, tuple[str, tuple[int, ...]]] = {
    "gt_bboxes": ("<f4", (4,)),
    "gt_ids": ("<i8", ()),
    "gt_classes": ("<i8", ()),
    "gt_consider": ("u1", ()),
    "gt_visibility": ("<f4", ()),
}
_NATIVE = {"<f4": np.float32, "<i8": np.int64, "u1": np.uint8}
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass
class FrameHeader:
    """Where a record lies in its sequence."""

    seq_name: str
    frame_id: int
    seq_length: int


@dataclass
class Mot17Frame:
    """One decoded frame: an ``(H, W, 3)`` uint8 image and every ``gt.txt`` box of it."""

    img: np.ndarray
    seq_name: str
    frame_id: int
    frame_rate: int
    seq_length: int
    gt: dict[str, np.ndarray]  # GT_FIELDS, native dtypes, owning their memory


def jpeg_size(buf: bytes | memoryview) -> tuple[int, int] | None:
    """``(height, width)`` from a JPEG's start-of-frame header (no decoding); None when ``buf``
    is not a JPEG or its header is cut short."""
    data = bytes(buf[:2])
    if data != b"\xff\xd8":
        return None
    pos, n = 2, len(buf)
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            return None
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if marker in _SOF_MARKERS:
            if pos + 9 > n:
                return None
            height = (buf[pos + 5] << 8) | buf[pos + 6]
            width = (buf[pos + 7] << 8) | buf[pos + 8]
            return height, width
        if marker == 0xDA or length < 2:  # image data before any frame header: broken
            return None
        pos += 2 + length
    return None


def encode_frame(
    img: bytes,
    *,
    seq_name: str,
    frame_id: int,
    height: int,
    width: int,
    frame_rate: int,
    seq_length: int,
    gt: dict[str, np.ndarray],
    img_format: str = "jpg",
    where: str = "",
) -> dict[str, Any]:
    """The msgpack-ready value of one frame; ``img`` must be a JPEG of ``height x width``
    (checked from its header, the error names ``where``)."""
    check_img_format(img_format, IMG_FORMATS)
    size = jpeg_size(img)
    if size is None:
        raise CorruptFileError(f"{where}: not a JPEG file (expected a .jpg image)")
    if size != (height, width):
        raise CorruptFileError(
            f"{where}: the image is {size[1]}x{size[0]} but seqinfo.ini says "
            f"imWidth={width}, imHeight={height}"
        )
    num = len(gt["gt_bboxes"])
    value: dict[str, Any] = {
        "schema": SCHEMA,
        "img_format": img_format,
        "img": bytes(img),
        "seq_name": str(seq_name),
        "frame_id": int(frame_id),
        "height": int(height),
        "width": int(width),
        "frame_rate": int(frame_rate),
        "seq_length": int(seq_length),
        "num_gt": int(num),
    }
    for key, (dtype, tail) in GT_FIELDS.items():
        arr = np.ascontiguousarray(gt[key], dtype=dtype)
        if arr.shape != (num, *tail):
            raise ValueError(f"{where}: {key} has shape {arr.shape}, expected {(num, *tail)}")
        value[key] = arr.tobytes()
    return value


def read_frame_header(value: Any, where: str = "") -> FrameHeader:
    """The sequence name, frame id and sequence length of a record (the image is not read)."""
    check_schema(value, SCHEMA, "MOT17", where)
    with record_fields("MOT17", where):
        return FrameHeader(str(value["seq_name"]), int(value["frame_id"]), int(value["seq_length"]))


def decode_frame(value: Any, to_rgb: bool = True, where: str = "") -> Mot17Frame:
    """Decode a value (as returned by msgpack; ``bin`` fields may be memoryviews of the LMDB
    map) into a :class:`Mot17Frame` whose arrays own their memory. ``where`` prefixes errors."""
    check_schema(value, SCHEMA, "MOT17", where)
    with record_fields("MOT17", where):
        check_img_format(value["img_format"], IMG_FORMATS)
        height, width = int(value["height"]), int(value["width"])
        img = cv2.imdecode(np.frombuffer(value["img"], np.uint8), cv2.IMREAD_COLOR)  # BGR
        if img is None or img.shape != (height, width, 3):
            got = None if img is None else img.shape
            raise CorruptFileError(
                f"{where}: bad JPEG image: expected ({height}, {width}, 3), decoded {got}"
            )
        if to_rgb:
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)
        num = int(value["num_gt"])
        gt = {
            key: frombuffer(value[key], dtype, (num, *tail), f"{where} {key}").astype(
                _NATIVE[dtype]
            )
            for key, (dtype, tail) in GT_FIELDS.items()
        }
        return Mot17Frame(
            img=img,
            seq_name=str(value["seq_name"]),
            frame_id=int(value["frame_id"]),
            frame_rate=int(value["frame_rate"]),
            seq_length=int(value["seq_length"]),
            gt=gt,
        )
