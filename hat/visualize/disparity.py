"""Stereo pictures: disparity and depth colour maps with a scale bar, error maps and a panel.

Images are RGB ``H x W x 3`` uint8 arrays (conversion to BGR happens when writing). Disparities
are ``H x W`` float pixels of the left image; unknown values (non-finite or <= 0: SceneFlow's 0,
Middlebury's ``inf``) are drawn black and never set a colour scale.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from hat.visualize.flow import _as_rgb_u8, _label
from hat.visualize.image_io import write_rgb_png

__all__ = [
    "colorize",
    "depth_from_disparity",
    "depth_to_color",
    "disparity_color_max",
    "disparity_error_map",
    "disparity_to_color",
    "make_disparity_panel",
    "save_disparity_visualization",
]


def _as_hw(x: Any, what: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"expected an H x W {what}, got shape {x.shape}")
    return x


def colorize(
    values: np.ndarray, lo: float, hi: float, colormap: int = cv2.COLORMAP_TURBO
) -> np.ndarray:
    """``values`` mapped linearly from ``[lo, hi]`` onto an OpenCV colour map (RGB uint8);
    non-finite values are black."""
    v = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(v)
    span = max(hi - lo, 1e-6)
    gray = np.clip((np.where(valid, v, lo) - lo) / span * 255.0, 0, 255).astype(np.uint8)
    img = cv2.cvtColor(cv2.applyColorMap(gray, colormap), cv2.COLOR_BGR2RGB)
    img[~valid] = 0
    return img


def _scale_bar(img: np.ndarray, top_text: str, bottom_text: str, colormap: int) -> np.ndarray:
    """Paste a vertical colour bar (the colour map's high end on top) labelled at both ends at
    the right edge of ``img``."""
    h, w = img.shape[:2]
    bar_h, bar_w = max(16, h // 2), max(6, w // 40)
    if bar_h + 8 > h or bar_w + 60 > w:
        return img
    img = img.copy()
    ramp = np.linspace(1.0, 0.0, bar_h)[:, None].repeat(bar_w, axis=1)
    y0, x0 = (h - bar_h) // 2, w - bar_w - 4
    img[y0 - 1 : y0 + bar_h + 1, x0 - 1 : x0 + bar_w + 1] = 255
    img[y0 : y0 + bar_h, x0 : x0 + bar_w] = colorize(ramp, 0.0, 1.0, colormap)
    scale = max(0.3, min(h, w) / 700)
    for text, y in ((top_text, y0 + 10), (bottom_text, y0 + bar_h)):
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        org = (max(0, x0 - tw - 4), y)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1)
    return img


def disparity_color_max(*disps: Any) -> float:
    """Top of a disparity colour scale: the largest known (finite, > 0) value of the first of
    ``disps`` that has one (None entries are skipped); 1.0 if none has."""
    for disp in disps:
        if disp is None:
            continue
        d = _as_hw(disp, "disparity")
        known = d[np.isfinite(d) & (d > 0)]
        if known.size:
            return float(known.max())
    return 1.0


def _check_scale(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 (or None: automatic), got {value}")
    return value


def disparity_to_color(
    disp: Any, max_disp: float | None = None, scale_bar: bool = False
) -> np.ndarray:
    """Disparity colour map (TURBO: dark blue = 0, dark red = ``max_disp``, default the largest
    known value, :func:`disparity_color_max`); unknown pixels (non-finite or <= 0) are black.
    ``scale_bar`` adds a bar."""
    d = _as_hw(disp, "disparity")
    valid = np.isfinite(d) & (d > 0)
    top = _check_scale("max_disp", max_disp) or disparity_color_max(d)
    img = colorize(np.where(valid, d, np.nan), 0.0, top)
    return _scale_bar(img, f"{top:.3g} px", "0 px", cv2.COLORMAP_TURBO) if scale_bar else img


def depth_from_disparity(
    disp: Any, baseline: float, focal: float, min_disp: float = 1e-2
) -> np.ndarray:
    """``depth = baseline * focal / disparity`` (float32, the baseline's unit); pixels with a
    disparity below ``min_disp`` (no match or infinitely far) get depth 0 (unknown)."""
    if not (baseline > 0 and focal > 0):
        raise ValueError(f"baseline and focal length must be > 0, got {baseline} and {focal}")
    d = _as_hw(disp, "disparity")
    ok = np.isfinite(d) & (d >= min_disp)
    depth = np.where(ok, baseline * focal / np.where(ok, d, 1.0), 0.0)
    return depth.astype(np.float32)


def depth_to_color(
    depth: Any, max_depth: float | None = None, scale_bar: bool = False
) -> np.ndarray:
    """Depth colour map, near = red, far = blue (TURBO reversed), clipped at ``max_depth``
    (default the 95th percentile of the known depths); unknown (0) pixels are black."""
    z = _as_hw(depth, "depth")
    valid = np.isfinite(z) & (z > 0)
    top = (
        float(max_depth)
        if max_depth
        else (float(np.percentile(z[valid], 95)) if valid.any() else 1.0)
    )
    img = colorize(np.where(valid, top - np.minimum(z, top), np.nan), 0.0, top)
    return _scale_bar(img, "0", f">={top:.3g}", cv2.COLORMAP_TURBO) if scale_bar else img


def disparity_error_map(
    disp: Any, gt: Any, max_disp: float = 192.0, max_error: float | None = None
) -> tuple[np.ndarray, dict[str, float]]:
    """``|disp - gt|`` as a JET-coloured RGB image (blue = 0, red = ``max_error``, default
    max(3 px, the 99th percentile of the finite errors)), black where the ground truth is
    unknown (non-finite, e.g. Middlebury's ``inf``) or not in ``(0, max_disp)``; a non-finite
    prediction is drawn red. Returns the image and ``{"EPE": px, "D1": fraction, "valid":
    fraction}`` over the known ground truth (D1: error > 3 px and > 5 % of the true
    disparity)."""
    d, g = _as_hw(disp, "disparity"), _as_hw(gt, "ground-truth disparity")
    if d.shape != g.shape:
        raise ValueError(f"disparity {d.shape} and ground truth {g.shape} differ in size")
    valid = np.isfinite(g) & (g > 0) & (g < max_disp)
    err = np.where(valid, np.abs(d - np.where(valid, g, 0.0)), 0.0)
    errs = err[valid]
    finite_errs = errs[np.isfinite(errs)]
    top = _check_scale("max_error", max_error) or max(
        3.0, float(np.percentile(finite_errs, 99)) if finite_errs.size else 3.0
    )
    shown = np.where(np.isfinite(err), err, top)
    gray = np.clip(shown / top * 255, 0, 255).astype(np.uint8)
    img = cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    img[~valid] = 0
    bad = (errs > 3.0) & (errs > 0.05 * g[valid])
    stats = {
        "EPE": float(errs.mean()) if errs.size else float("nan"),
        "D1": float(bad.mean()) if errs.size else float("nan"),
        "valid": float(valid.mean()),
    }
    return img, stats


def make_disparity_panel(
    left: Any,
    right: Any,
    disp: Any,
    gt: Any = None,
    depth: Any = None,
    max_disp: float | None = None,
) -> np.ndarray:
    """RGB panel: ``[left | right | disparity]``, then ``[ground truth | error | depth]`` where
    given (missing tiles are black). Disparities share one colour scale (``max_disp``, default
    the largest known ground-truth value, else the prediction's: :func:`disparity_color_max`);
    the error tile's label gives EPE and D1 over pixels with a known ``0 < gt < 192``."""
    d = _as_hw(disp, "disparity")
    h, w = d.shape
    a, b = _as_rgb_u8(left, (h, w)), _as_rgb_u8(right, (h, w))
    max_disp = _check_scale("max_disp", max_disp) or disparity_color_max(gt, d)
    row1 = [
        _label(a, "left"),
        _label(b, "right"),
        _label(disparity_to_color(d, max_disp, scale_bar=True), "disparity"),
    ]
    if gt is None and depth is None:
        return np.concatenate(row1, axis=1)
    blank = np.zeros_like(a)
    row2 = [blank, blank, blank]
    if gt is not None:
        g = _as_hw(gt, "ground truth")
        err, stats = disparity_error_map(d, g)
        row2[0] = _label(disparity_to_color(g, max_disp), "ground truth")
        row2[1] = _label(err, f"EPE {stats['EPE']:.2f} px, D1 {100 * stats['D1']:.1f}%")
    if depth is not None:
        row2[2] = _label(depth_to_color(depth, scale_bar=True), "depth")
    return np.concatenate([np.concatenate(row1, 1), np.concatenate(row2, 1)], axis=0)


def save_disparity_visualization(
    path: str | os.PathLike,
    left: Any,
    right: Any,
    disp: Any,
    gt: Any = None,
    depth: Any = None,
    max_disp: float | None = None,
) -> np.ndarray:
    """Write :func:`make_disparity_panel` to ``path`` (PNG) and return the RGB panel."""
    panel = make_disparity_panel(left, right, disp, gt, depth, max_disp)
    write_rgb_png(path, panel)
    return panel
