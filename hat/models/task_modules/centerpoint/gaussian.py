"""CenterNet / CenterPoint gaussian heatmaps: the radius of a box's peak and its drawing."""

from __future__ import annotations

import math

import torch

__all__ = ["draw_heatmap_gaussian", "gaussian_2d", "gaussian_radius"]


def gaussian_radius(det_size: tuple[float, float], min_overlap: float = 0.5) -> float:
    """CornerNet's radius for a ``(height, width)`` box, as CenterPoint computes it.

    The smallest of the three roots that bound a corner shift keeping the IoU of the shifted box
    with the original above ``min_overlap`` (both corners moving inwards, outwards, or one of
    each). These are CornerNet's formulas as published and used by CenterPoint (the second and
    third roots are not halved), so the values match CenterPoint's targets.
    """
    height, width = float(det_size[0]), float(det_size[1])
    if height < 0 or width < 0:
        raise ValueError(f"gaussian_radius: det_size must be >= 0, got {det_size}")
    if not 0.0 < min_overlap < 1.0:
        raise ValueError(f"gaussian_radius: min_overlap must be in (0, 1), got {min_overlap}")
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_2d(radius: int, sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(2r+1, 2r+1)`` kernel ``exp(-(x^2 + y^2) / (2 sigma^2))`` (peak 1), values below
    ``eps * max`` set to 0."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    g[g < torch.finfo(torch.float64).eps * g.max()] = 0
    return g.to(dtype)


def draw_heatmap_gaussian(heatmap: torch.Tensor, center: tuple[int, int], radius: int) -> None:
    """In place: ``heatmap = max(heatmap, gaussian)`` around integer ``center = (x, y)`` (column,
    row) with ``sigma = (2 * radius + 1) / 6``, clipped at the borders of the ``(H, W)`` map."""
    radius = int(radius)
    diameter = 2 * radius + 1
    g = gaussian_2d(radius, diameter / 6, heatmap.dtype).to(heatmap.device)
    x, y = int(center[0]), int(center[1])
    h, w = heatmap.shape[-2:]
    left, right = min(x, radius), min(w - x, radius + 1)
    top, bottom = min(y, radius), min(h - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = g[radius - top : radius + bottom, radius - left : radius + right]
    torch.maximum(region, patch, out=region)
