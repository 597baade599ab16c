"""Functional helpers shared by the transforms: interpolation modes, YUV444, affine warps."""

from __future__ import annotations

from enum import Enum
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "InterpolationMode",
    "hwc_to_chw",
    "interpolation_mode",
    "rgb_to_yuv444",
    "warp_affine",
]


class InterpolationMode(str, Enum):
    """Interpolation names, compatible with ``torchvision.transforms.InterpolationMode`` values."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def interpolation_mode(mode: Any) -> str:
    """``"bilinear"`` or ``InterpolationMode.BILINEAR`` (also torchvision's) -> ``"bilinear"``."""
    name = getattr(mode, "value", mode)
    if isinstance(name, str) and name.lower() in {m.value for m in InterpolationMode}:
        return name.lower()
    raise ValueError(
        f"unknown interpolation {mode!r}: expected one of "
        + ", ".join(repr(m.value) for m in InterpolationMode)
    )


def hwc_to_chw(arrays: list[np.ndarray], dtype: type = np.float32) -> np.ndarray:
    """Stack ``(H, W[, C])`` arrays into one contiguous ``(sum C, H, W)`` array of ``dtype``.

    ``cv2.split`` writes each interleaved image straight into its planes of the result: a
    strided transpose copy (numpy or torch) of an interleaved uint8 image is ~30x slower, and
    letting ``cv2.split`` allocate the planes then copying them costs fresh pages twice.
    """
    h, w = arrays[0].shape[:2]
    channels = [a.shape[2] if a.ndim == 3 else 1 for a in arrays]
    out = np.empty((sum(channels), h, w), dtype)
    start = 0
    for a, c in zip(arrays, channels):
        if a.shape[:2] != (h, w):
            raise ValueError(f"hwc_to_chw: array of shape {a.shape}, expected {(h, w)} first")
        _split_into(a, out[start : start + c])
        start += c
    return out


_CV_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32)}


def _split_into(a: np.ndarray, dst: np.ndarray) -> None:
    """Write the channels of ``a`` ``(H, W[, C])`` into the contiguous planes ``dst[i]``."""
    if a.ndim == 2 or dst.shape[0] == 1:
        dst[0] = a.reshape(dst.shape[1:])
        return
    if a.dtype not in _CV_DTYPES or a.shape[2] > 512:
        dst[:] = np.moveaxis(a, 2, 0)
        return
    target = dst if a.dtype == dst.dtype else np.empty(dst.shape, a.dtype)
    planes = cv2.split(a, list(target))
    if not all(np.shares_memory(p, t) for p, t in zip(planes, target)):
        target = np.stack(planes)  # cv2 did not write in place (an unusual layout)
    if target is not dst:
        dst[...] = target  # one vectorised conversion, e.g. uint8 -> float32


# BT.601 full range, as the camera's uint8 YUV444 input of the deployed model.
_YUV_FROM_RGB = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]],
    dtype=torch.float64,
)
_YUV_OFFSET = torch.tensor([0.0, 128.0, 128.0], dtype=torch.float64)


def rgb_to_yuv444(
    img: torch.Tensor, rgb_input: bool = True, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Convert every 3-channel group of ``img`` ``(..., 3k, H, W)`` (values 0..255) to YUV444.

    Y = 0.299R + 0.587G + 0.114B, U = -0.1687R - 0.3313G + 0.5B + 128,
    V = 0.5R - 0.4187G - 0.0813B + 128, rounded and clamped to 0..255 like a uint8 camera image.
    ``rgb_input=False`` means the groups are BGR. The result has ``dtype`` (default: ``img``'s;
    the levels are whole numbers, so any dtype holds them exactly).
    """
    if img.dim() < 3 or img.shape[-3] % 3:
        raise ValueError(f"rgb_to_yuv444: expected (..., 3k, H, W), got {tuple(img.shape)}")
    groups = img.shape[-3] // 3
    x = img.reshape(*img.shape[:-3], groups, 3, *img.shape[-2:])
    if not rgb_input:
        x = x.flip(-3)
    work = torch.float64 if img.dtype == torch.float64 else torch.float32
    mat = _YUV_FROM_RGB.to(device=img.device, dtype=work)
    off = _YUV_OFFSET.to(device=img.device, dtype=work).view(3, 1, 1)
    yuv = torch.einsum("ij,...jhw->...ihw", mat, x.to(work)) + off
    yuv = yuv.round_().clamp_(0, 255)
    return yuv.reshape(img.shape).to(img.dtype if dtype is None else dtype)


def warp_affine(
    x: torch.Tensor, src_from_dst: torch.Tensor, mode: str = "bilinear", fill: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample ``x`` ``(B, C, H, W)`` at ``src = M @ [x', y', 1]`` for each output pixel.

    ``src_from_dst`` is ``(B, 2, 3)`` in pixel coordinates (pixel centres at integers).
    Output pixels whose source lies outside the image get ``fill``. Returns the warped tensor
    and the ``(B, 1, H, W)`` boolean inside-mask.
    """
    b, _, h, w = x.shape
    src = source_coords(src_from_dst, h, w)  # (B, H, W, 2) in pixels
    eps = 1e-3
    inside = (
        (src[..., 0] >= -eps)
        & (src[..., 0] <= w - 1 + eps)
        & (src[..., 1] >= -eps)
        & (src[..., 1] <= h - 1 + eps)
    ).unsqueeze(1)
    scale = torch.tensor(
        [2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=x.device, dtype=src.dtype
    )
    grid = (src * scale - 1.0).to(x.dtype if x.is_floating_point() else torch.float32)
    xf = x if x.is_floating_point() else x.float()
    out = F.grid_sample(xf, grid, mode=mode, padding_mode="border", align_corners=True)
    out = torch.where(inside, out, torch.as_tensor(fill, dtype=out.dtype, device=out.device))
    return out.to(x.dtype) if not x.is_floating_point() else out, inside


def source_coords(src_from_dst: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(B, H, W, 2)`` pixel coordinates ``M @ [x, y, 1]`` of every output pixel."""
    m = src_from_dst.to(torch.float64)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64, device=m.device),
        torch.arange(w, dtype=torch.float64, device=m.device),
        indexing="ij",
    )
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # (H, W, 3)
    return torch.einsum("bij,hwj->bhwi", m, pts)
