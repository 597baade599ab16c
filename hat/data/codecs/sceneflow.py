"""The LMDB value schema of a SceneFlow stereo sample.

Each value is ``msgpack.packb`` of the dict::

    {
        "schema": "hat.sceneflow/1",
        "img_name": str,          # the left image path as listed, e.g.
                                  # "FlyingThings3D/frames_finalpass/TEST/A/0107/left/0014.png"
        "shape": [H, W],
        "img_format": "raw" | "png",
        "img_left": bytes,        # raw: H*W*3 uint8, RGB, row-major; png: a PNG file
        "img_right": bytes,
        "gt_disp": bytes,         # H*W float32 little-endian, left-view disparity, top row first
    }

``"raw"`` (the default) makes decoding a memory copy; ``"png"`` stores the source PNG files'
bytes as they are (smaller; a finalpass frame decodes in a few milliseconds).

Values written by Horizon's HAT (a dict without ``"schema"``: ``img_left`` / ``img_right`` PNGs
encoded from RGB arrays, ``gt_disp`` float32 bytes, ``img_name``) are decoded too.
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

__all__ = ["IMG_FORMATS", "SCHEMA", "StereoSample", "decode_sample", "encode_sample"]

SCHEMA = "hat.sceneflow/1"
IMG_FORMATS = ("raw", "png")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class StereoSample:
    """One decoded sample: ``(H, W, 3)`` uint8 left/right, ``(H, W)`` float32 disparity."""

    left: np.ndarray
    right: np.ndarray
    disp: np.ndarray
    img_name: str


def encode_sample(
    left_rgb: np.ndarray,
    right_rgb: np.ndarray,
    disp: np.ndarray,
    img_name: str,
    img_format: str = "raw",
    left_file: bytes | None = None,
    right_file: bytes | None = None,
) -> dict[str, Any]:
    """Build the msgpack-ready value from RGB images and the disparity.

    With ``img_format="png"``, ``left_file`` / ``right_file`` (the source files' bytes, already
    decoded by the caller into the arrays given) are stored as they are when they are PNGs;
    otherwise the arrays are PNG-encoded.
    """
    check_img_format(img_format, IMG_FORMATS)
    if disp.ndim != 2:
        raise ValueError(f"sample {img_name}: disparity is {disp.shape}, expected (H, W)")
    height, width = disp.shape
    images = (("left image", left_rgb), ("right image", right_rgb))
    check_rgb_images(images, (height, width), f"sample {img_name}", f"disparity {disp.shape}")
    if img_format == "raw":
        enc = [np.ascontiguousarray(i).tobytes() for i in (left_rgb, right_rgb)]
    else:
        enc = [
            bytes(f) if f is not None and bytes(f[:8]) == _PNG_SIGNATURE else encode_rgb_png(img)
            for f, img in ((left_file, left_rgb), (right_file, right_rgb))
        ]
    return {
        "schema": SCHEMA,
        "img_name": str(img_name),
        "shape": [int(height), int(width)],
        "img_format": img_format,
        "img_left": enc[0],
        "img_right": enc[1],
        "gt_disp": np.ascontiguousarray(disp, dtype="<f4").tobytes(),
    }


def decode_sample(
    value: Any, to_rgb: bool = True, where: str = "", copy: bool = True
) -> StereoSample:
    """Decode a value (as returned by msgpack) into a :class:`StereoSample`.

    ``bin`` fields may be ``bytes`` or memoryviews (:meth:`~hat.data.pack_type.LmdbReader.view`).
    With ``copy`` (the default) every array is writable and owns its memory, made by one copy
    (or decode) from its field. With ``copy=False`` raw-encoded images and the disparity may be
    read-only views of ``value``'s buffers, valid only as long as those are: for a consumer that
    copies them at once (see ``ToTensor.copies_input``). ``where`` (e.g.
    ``"<lmdb path> key b'3'"``) prefixes error messages.
    """
    if isinstance(value, dict) and "schema" not in value and "img_left" in value:
        return _decode_hat_dict(value, to_rgb, where, copy)
    check_schema(value, SCHEMA, "SceneFlow", where)
    with record_fields("SceneFlow", where):
        height, width = value["shape"]
        fmt = value["img_format"]
        left, right = (
            decode_img(value[k], fmt, height, width, to_rgb, copy, f"{where} {k}")
            for k in ("img_left", "img_right")
        )
        disp = frombuffer(value["gt_disp"], "<f4", (height, width), f"{where} gt_disp")
        return StereoSample(left, right, as_float32(disp, copy), str(value["img_name"]))


def _decode_hat_dict(value: dict, to_rgb: bool, where: str, copy: bool) -> StereoSample:
    """HAT's value: PNGs encoded from RGB arrays (so ``imdecode`` gives RGB), float32 disparity."""
    imgs = []
    for key in ("img_left", "img_right"):
        img = decode_rgb_png(value[key], to_rgb)
        if img is None:
            raise CorruptFileError(f"{where}: HAT value's {key} is not a decodable PNG")
        imgs.append(img)
    height, width = imgs[0].shape[:2]
    if "gt_disp" not in value:
        raise CorruptFileError(f"{where}: HAT SceneFlow value lacks field 'gt_disp'")
    disp = frombuffer(value["gt_disp"], "<f4", (height, width), f"{where} gt_disp")
    name = value.get("img_name", "")
    if isinstance(name, (bytes, memoryview)):
        name = bytes(name).decode("utf-8", "replace")
    return StereoSample(imgs[0], imgs[1], as_float32(disp, copy), str(name))
