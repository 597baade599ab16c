"""Optical-flow pictures: Middlebury colour coding, error maps and a PNG panel (cv2 only).

All images here are RGB ``H x W x 3`` uint8 arrays; conversion to BGR happens when writing.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from hat.visualize.image_io import write_rgb_png

__all__ = [
    "flow_error_map",
    "flow_to_color",
    "make_colorwheel",
    "make_flow_panel",
    "save_flow_visualization",
    "wheel_legend",
]

# Middlebury colour wheel segments (Baker et al., "A Database and Evaluation Methodology for
# Optical Flow"): red-yellow, yellow-green, green-cyan, cyan-blue, blue-magenta, magenta-red.
_SEGMENTS = (15, 6, 4, 11, 13, 6)


def make_colorwheel() -> np.ndarray:
    """The 55 x 3 Middlebury colour wheel (RGB, 0..255)."""
    wheel = np.zeros((sum(_SEGMENTS), 3), dtype=np.float64)
    col = 0
    # Segments 2k and 2k+1 go from primary k to primary k+1 (R, G, B): first k+1 rises with k
    # at 255, then k falls with k+1 at 255 (R -> Y -> G -> C -> B -> M -> R).
    for i, n in enumerate(_SEGMENTS):
        a, b = i // 2, (i // 2 + 1) % 3
        ramp = np.floor(255 * np.arange(n) / n)
        rows = slice(col, col + n)
        if i % 2 == 0:
            wheel[rows, a], wheel[rows, b] = 255, ramp
        else:
            wheel[rows, a], wheel[rows, b] = 255 - ramp, 255
        col += n
    return wheel


_WHEEL = make_colorwheel()


def _as_hw2(flow: Any) -> np.ndarray:
    """Numpy ``H x W x 2`` float64 from a numpy/torch flow in ``HxWx2``, ``2xHxW`` or
    ``1x2xHxW`` layout."""
    if hasattr(flow, "detach"):
        flow = flow.detach().cpu().numpy()
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim == 4 and flow.shape[0] == 1:
        flow = flow[0]
    if flow.ndim == 3 and flow.shape[0] == 2 and flow.shape[2] != 2:
        flow = flow.transpose(1, 2, 0)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"expected a flow of shape HxWx2 or 2xHxW, got {flow.shape}")
    return flow


def flow_to_color(flow: Any, max_flow: float | None = None) -> np.ndarray:
    """Middlebury colour coding of a flow field -> ``H x W x 3`` uint8 RGB.

    Hue is the direction (pure rightward motion is red, leftward cyan), saturation the
    magnitude relative to ``max_flow`` (default: the largest finite magnitude); zero motion is
    white and magnitudes above ``max_flow`` are darkened. Unknown (non-finite or >= 1e9)
    vectors are black.
    """
    flow = _as_hw2(flow)
    u, v = flow[..., 0].copy(), flow[..., 1].copy()
    unknown = ~np.isfinite(u) | ~np.isfinite(v) | (np.abs(u) >= 1e9) | (np.abs(v) >= 1e9)
    u[unknown] = 0
    v[unknown] = 0
    rad = np.sqrt(u**2 + v**2)
    if max_flow is None:
        max_flow = float(rad.max()) if rad.size else 0.0
    scale = 1.0 / max(float(max_flow), 1e-9)
    u, v, rad = u * scale, v * scale, rad * scale
    ncols = len(_WHEEL)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    fk = (angle + 1) / 2 * (ncols - 1)
    k0 = np.floor(fk).astype(np.int64) % ncols
    k1 = (k0 + 1) % ncols
    f = (fk - np.floor(fk))[..., None]
    col = (1 - f) * _WHEEL[k0] / 255.0 + f * _WHEEL[k1] / 255.0
    inside = (rad <= 1)[..., None]
    col = np.where(inside, 1 - rad[..., None] * (1 - col), col * 0.75)
    img = np.clip(np.floor(255 * col), 0, 255).astype(np.uint8)
    img[unknown] = 0
    return img


def wheel_legend(size: int = 64, background: int = 255) -> np.ndarray:
    """A ``size x size`` RGB picture of the colour wheel (direction/magnitude legend)."""
    r = np.linspace(-1.0, 1.0, size)
    u, v = np.meshgrid(r, r)
    img = flow_to_color(np.stack([u, v], axis=-1), max_flow=1.0)
    img[np.sqrt(u**2 + v**2) > 1.0] = background
    return img


def flow_error_map(flow: Any, gt: Any, max_error: float | None = None) -> np.ndarray:
    """Per-pixel end-point error as a JET-coloured RGB image (blue = 0, red = ``max_error``,
    default the largest error but at least 1 px). Unknown ground truth is black."""
    flow, gt = _as_hw2(flow), _as_hw2(gt)
    if flow.shape != gt.shape:
        raise ValueError(f"flow {flow.shape} and gt {gt.shape} differ in shape")
    valid = np.isfinite(gt).all(-1) & (np.abs(gt) < 1e9).all(-1)
    err = np.where(valid, np.linalg.norm(flow - np.where(valid[..., None], gt, 0), axis=-1), 0)
    top = float(max_error) if max_error else max(float(err.max()) if err.size else 0.0, 1.0)
    gray = np.clip(err / top * 255, 0, 255).astype(np.uint8)
    img = cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    img[~valid] = 0
    return img


def _as_rgb_u8(img: Any, size: tuple[int, int]) -> np.ndarray:
    if hasattr(img, "detach"):
        img = img.detach().cpu().numpy()
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[2] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = size
    if img.shape[:2] != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    scale = max(0.4, min(img.shape[:2]) / 400)
    thick = max(1, int(round(scale * 2)))
    org = (6, int(20 * scale) + 4)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(
        img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA
    )
    return img


def _paste_legend(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    size = max(16, min(h, w) // 4)
    if size + 4 > min(h, w):
        return img
    img = img.copy()
    legend = wheel_legend(size)
    y0, x0 = h - size - 2, w - size - 2
    img[y0 - 1 : y0 + size + 1, x0 - 1 : x0 + size + 1] = 0
    img[y0 : y0 + size, x0 : x0 + size] = legend
    return img


def make_flow_panel(
    img1: Any, img2: Any, flow: Any, gt: Any = None, max_flow: float | None = None
) -> np.ndarray:
    """RGB panel: ``[image 1 | image 2 | predicted flow]`` and, with ``gt``, a second row
    ``[overlay | ground truth | EPE error]``. Flow colours share one scale (``max_flow``,
    default the largest GT magnitude, else the prediction's); the predicted-flow tile carries
    a colour-wheel legend in its bottom-right corner."""
    flow = _as_hw2(flow)
    h, w = flow.shape[:2]
    a, b = _as_rgb_u8(img1, (h, w)), _as_rgb_u8(img2, (h, w))
    ref = _as_hw2(gt) if gt is not None else flow
    if max_flow is None:
        finite = ref[np.isfinite(ref).all(-1) & (np.abs(ref) < 1e9).all(-1)]
        max_flow = float(np.linalg.norm(finite, axis=-1).max()) if finite.size else 1.0
    pred_tile = _paste_legend(flow_to_color(flow, max_flow))
    row1 = [_label(a, "image 1"), _label(b, "image 2"), _label(pred_tile, "flow")]
    if gt is None:
        return np.concatenate(row1, axis=1)
    gt = _as_hw2(gt)
    if gt.shape[:2] != (h, w):
        raise ValueError(f"gt flow {gt.shape[:2]} and predicted flow {(h, w)} differ in size")
    valid = np.isfinite(gt).all(-1) & (np.abs(gt) < 1e9).all(-1)
    err = np.linalg.norm(flow - np.where(valid[..., None], gt, 0), axis=-1)[valid]
    epe = float(err.mean()) if err.size else float("nan")
    overlay = ((a.astype(np.uint16) + b.astype(np.uint16)) // 2).astype(np.uint8)
    row2 = [
        _label(overlay, "overlay"),
        _label(flow_to_color(gt, max_flow), "ground truth"),
        _label(flow_error_map(flow, gt), f"EPE {epe:.2f}"),
    ]
    return np.concatenate([np.concatenate(row1, 1), np.concatenate(row2, 1)], axis=0)


def save_flow_visualization(
    path: str | os.PathLike,
    img1: Any,
    img2: Any,
    flow: Any,
    gt: Any = None,
    max_flow: float | None = None,
) -> np.ndarray:
    """Write :func:`make_flow_panel` to ``path`` (PNG) and return the RGB panel.

    ``img1``/``img2`` are RGB uint8 (``HxWx3`` or ``3xHxW``); they are resized to the flow's
    size if needed.
    """
    panel = make_flow_panel(img1, img2, flow, gt, max_flow)
    write_rgb_png(path, panel)
    return panel
