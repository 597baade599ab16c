"""The fixed bilinear resampling from the BEV grid to the map-segmentation grid.

Both grids put cell centres at ``-half + (k + 0.5) * res`` (rows along ego y, columns along
ego x). ``grid_sample`` with ``align_corners=False`` puts the normalised coordinate -1 at the
left edge of the first cell and +1 at the right edge of the last one, so the ego point
``(x, y)`` is the normalised ``(x / x_range, y / y_range)`` of the BEV grid whatever its
resolution: each map cell samples the BEV logits at its own centre.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["bev_grid_shape", "map_grid_shape", "bev_to_map_grid", "resample_to_map"]


def _cells(half: float, res: float, what: str) -> int:
    n = 2.0 * half / res
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise ValueError(f"{what}: 2 * {half} / {res} = {n} is not a whole number of cells")
    return int(round(n))


def _triple(size: Sequence[float], key: str, form: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in size)
    except TypeError as exc:
        raise TypeError(f"{key} must be {form}, got {size!r}") from exc
    if len(values) != 3 or min(values) <= 0:
        raise ValueError(f"{key} must be {form} > 0, got {size!r}")
    return values


def bev_grid_shape(bev_size: Sequence[float]) -> tuple[int, int]:
    """``(rows, cols)`` of ``bev_size = (x_range_m, y_range_m, res_m)`` (rows along ego y)."""
    xr, yr, res = _triple(bev_size, "bev_size", "(x_range_m, y_range_m, resolution_m)")
    return _cells(yr, res, "bev_size rows"), _cells(xr, res, "bev_size cols")


def map_grid_shape(task_size: Sequence[float]) -> tuple[int, int]:
    """``(rows, cols)`` of ``task_size = (lateral_half_m, forward_half_m, res_m)`` (the
    ``map_size`` of the data: rows along ego y, columns along ego x)."""
    lat, fwd, res = _triple(task_size, "task_size", "(lateral_half_m, forward_half_m, res_m)")
    return _cells(lat, res, "task_size rows"), _cells(fwd, res, "task_size cols")


def bev_to_map_grid(bev_size: Sequence[float], task_size: Sequence[float]) -> torch.Tensor:
    """``(1, rows, cols, 2)`` float32 ``grid_sample`` grid (``align_corners=False``) that
    samples the BEV grid at every map cell centre. The map must lie inside the BEV grid."""
    xr, yr, _ = _triple(bev_size, "bev_size", "(x_range_m, y_range_m, resolution_m)")
    lat, fwd, res = _triple(task_size, "task_size", "(lateral_half_m, forward_half_m, res_m)")
    bev_grid_shape(bev_size)
    rows, cols = map_grid_shape(task_size)
    if fwd > xr + 1e-9 or lat > yr + 1e-9:
        raise ValueError(
            f"task_size {tuple(task_size)} (+-{fwd} m along x, +-{lat} m along y) must lie inside "
            f"bev_size {tuple(bev_size)} (+-{xr} m along x, +-{yr} m along y)"
        )
    x = -fwd + (torch.arange(cols, dtype=torch.float64) + 0.5) * res
    y = -lat + (torch.arange(rows, dtype=torch.float64) + 0.5) * res
    gy, gx = torch.meshgrid(y / yr, x / xr, indexing="ij")
    return torch.stack([gx, gy], dim=-1).unsqueeze(0).float()


def resample_to_map(logits: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``(B, C, Hb, Wb)`` BEV logits -> ``(B, C, rows, cols)`` map logits (float32, bilinear;
    differentiable)."""
    if logits.dim() != 4:
        raise ValueError(f"BEV logits must be (B, C, H, W), got {tuple(logits.shape)}")
    b = logits.shape[0]
    return F.grid_sample(
        logits.float(),
        grid.to(logits.device).expand(b, -1, -1, -1),
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )
