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

import cv2
import numpy as np

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
    if img_format not in IMG_FORMATS:
        raise ValueError(f"unknown img_format {img_format!r}: expected one of {IMG_FORMATS}")
    if disp.ndim != 2:
        raise ValueError(f"sample {img_name}: disparity is {disp.shape}, expected (H, W)")
    height, width = disp.shape
    for name, img in (("left", left_rgb), ("right", right_rgb)):
        if img.shape != (height, width, 3) or img.dtype != np.uint8:
            raise ValueError(
                f"sample {img_name}: {name} image is {img.shape} {img.dtype}, expected "
                f"({height}, {width}, 3) uint8 to match the disparity {disp.shape}"
            )
    if img_format == "raw":
        enc = [np.ascontiguousarray(i).tobytes() for i in (left_rgb, right_rgb)]
    else:
        enc = [
            bytes(f) if f is not None and bytes(f[:8]) == _PNG_SIGNATURE else _png(img)
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


def _png(img_rgb: np.ndarray) -> bytes:
    bgr = np.ascontiguousarray(img_rgb[..., ::-1])
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_sample(value: Any, to_rgb: bool = True, where: str = "") -> StereoSample:
    """Decode a value (as returned by msgpack) into a :class:`StereoSample`.

    ``where`` (e.g. ``"<lmdb path> key b'3'"``) prefixes error messages.
    """
    if isinstance(value, dict) and "schema" not in value and "img_left" in value:
        return _decode_hat_dict(value, to_rgb, where)
    if not isinstance(value, dict) or value.get("schema") != SCHEMA:
        got = value.get("schema") if isinstance(value, dict) else type(value).__name__
        raise CorruptFileError(
            f"{where}: not a SceneFlow value: expected schema {SCHEMA!r}, got {got!r}"
        )
    try:
        height, width = value["shape"]
        fmt = value["img_format"]
        left, right = (
            _decode_img(value[k], fmt, height, width, to_rgb, f"{where} {k}")
            for k in ("img_left", "img_right")
        )
        disp = _frombuffer(value["gt_disp"], "<f4", (height, width), f"{where} gt_disp")
        return StereoSample(left, right, disp.astype(np.float32), str(value["img_name"]))
    except KeyError as exc:
        raise CorruptFileError(f"{where}: SceneFlow value lacks field {exc.args[0]!r}") from None


def _frombuffer(buf: bytes, dtype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if len(buf) != expected:
        raise CorruptFileError(
            f"{where}: expected {expected} bytes for {shape} {dtype}, got {len(buf)}"
        )
    return np.frombuffer(buf, dtype).reshape(shape)


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
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img) if to_rgb else img
    raise CorruptFileError(f"{where}: unknown img_format {fmt!r}: expected one of {IMG_FORMATS}")


def _decode_hat_dict(value: dict, to_rgb: bool, where: str) -> StereoSample:
    """HAT's value: PNGs encoded from RGB arrays (so ``imdecode`` gives RGB), float32 disparity."""
    imgs = []
    for key in ("img_left", "img_right"):
        img = cv2.imdecode(np.frombuffer(value[key], np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise CorruptFileError(f"{where}: HAT value's {key} is not a decodable PNG")
        imgs.append(img if to_rgb else np.ascontiguousarray(img[..., ::-1]))
    height, width = imgs[0].shape[:2]
    if "gt_disp" not in value:
        raise CorruptFileError(f"{where}: HAT SceneFlow value lacks field 'gt_disp'")
    disp = _frombuffer(value["gt_disp"], "<f4", (height, width), f"{where} gt_disp")
    name = value.get("img_name", "")
    name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return StereoSample(imgs[0], imgs[1], disp.astype(np.float32), name)
