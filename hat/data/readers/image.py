"""Image files: reading through OpenCV with clear errors, writing binary PPM (``P6``)."""

from __future__ import annotations

import os

import cv2
import numpy as np

from hat.data.errors import CorruptFileError

__all__ = ["read_image", "write_ppm"]


def read_image(path: str | os.PathLike, to_rgb: bool = True) -> np.ndarray:
    """Read a colour image as ``(H, W, 3)`` uint8, RGB when ``to_rgb`` else BGR (OpenCV order)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file not found: {path}")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        size = os.path.getsize(path)
        raise CorruptFileError(
            f"{path}: unreadable image ({size} bytes): expected a complete image file "
            "(PPM/PNG/JPEG) that OpenCV can decode"
        )
    if to_rgb:
        cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)  # in place: no second buffer
    return img


def write_ppm(path: str | os.PathLike, img_rgb: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` uint8 RGB image as a binary PPM (``P6``, maxval 255)."""
    img = np.asarray(img_rgb)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"write_ppm({os.fspath(path)}): expected (H, W, 3) uint8, got {img.shape} {img.dtype}"
        )
    height, width = img.shape[:2]
    with open(path, "wb") as f:
        f.write(f"P6\n{width} {height}\n255\n".encode("ascii"))
        f.write(np.ascontiguousarray(img).tobytes())
