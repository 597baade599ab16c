"""Inverse perspective mapping: where each BEV cell centre lies in each camera's feature map.

Grid convention (shared by the BEV parts): ``bev_size = (x_range_m, y_range_m, res_m)`` gives
``Hb = round(2 * y_range / res)`` rows and ``Wb = round(2 * x_range / res)`` columns; row ``i``
is ego ``y = -y_range + (i + 0.5) * res``, column ``j`` is ego ``x = -x_range + (j + 0.5) * res``,
on the ground plane ``z = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["OUTSIDE", "bev_grid_shape", "bev_cell_centres", "ipm_points"]

#: the coordinate given to points that see no feature (behind the camera, off the image):
#: two pixels left of / above the feature map, so every bilinear tap reads zero padding
OUTSIDE = -2.0
_MIN_DEPTH = 1e-3


def _check_bev_size(bev_size: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(v) for v in bev_size)
    if len(values) != 3 or min(values) <= 0:
        raise ValueError(f"bev_size must be (x_range_m, y_range_m, res_m) > 0, got {bev_size!r}")
    return values  # type: ignore[return-value]


def bev_grid_shape(bev_size: Sequence[float]) -> tuple[int, int]:
    """``(Hb, Wb)`` of the BEV grid: ``(round(2 y_range / res), round(2 x_range / res))``."""
    x_range, y_range, res = _check_bev_size(bev_size)
    return round(2 * y_range / res), round(2 * x_range / res)


def bev_cell_centres(bev_size: Sequence[float], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(Hb, Wb, 2)`` ego ``(x, y)`` of every cell centre (row ``i`` <-> y, column ``j`` <-> x)."""
    x_range, y_range, res = _check_bev_size(bev_size)
    hb, wb = bev_grid_shape(bev_size)
    ys = -y_range + (torch.arange(hb, dtype=dtype) + 0.5) * res
    xs = -x_range + (torch.arange(wb, dtype=dtype) + 0.5) * res
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


def _check_matrix(name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
    if not isinstance(t, torch.Tensor) or tuple(t.shape[-len(shape) :]) != shape:
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(
            f"ipm_points: {name} must be (B, V, {', '.join(map(str, shape))}), got {got}"
        )


@torch.no_grad()
def ipm_points(
    intrinsics: torch.Tensor,
    sensor2ego: torch.Tensor,
    img_aug: torch.Tensor | None,
    bev_aug: torch.Tensor | None,
    bev_size: Sequence[float],
    feat_hw: Sequence[int],
    feat_stride: int,
) -> torch.Tensor:
    """Feature-map pixel coordinates of every BEV cell centre in every view.

    Args:
        intrinsics: ``(B, V, 3, 3)`` camera matrices (image pixels, pixel centres at integers).
        sensor2ego: ``(B, V, 4, 4)`` camera -> ego transforms.
        img_aug: ``(B, V, 3, 3)`` image-plane augmentation, ``pixel' = img_aug @ [u, v, 1]``
            (identity when None).
        bev_aug: ``(B, 4, 4)`` ego -> augmented ego (identity when None). The cells are in
            the augmented frame; the point seen is ``inv(bev_aug) @ [x, y, 0, 1]``.
        bev_size: ``(x_range_m, y_range_m, res_m)`` (see module doc).
        feat_hw: ``(Hf, Wf)`` of the feature map that will be sampled.
        feat_stride: its stride in image pixels.

    Returns:
        ``(B, V, Hb, Wb, 2)`` float32 ``(u, v)`` in feature pixels with feature pixel centres
        at integers, ``u_feat = (u_img + 0.5) / stride - 0.5``. Cells behind a camera (depth
        ``<= 1e-3``) or more than one pixel outside the feature map (``u < -1``, ``u > Wf``,
        same for ``v``) get :data:`OUTSIDE` in both coordinates. Computed in float64.
    """
    _check_matrix("intrinsics", intrinsics, (3, 3))
    if intrinsics.dim() != 4:
        raise ValueError(
            f"ipm_points: intrinsics must be (B, V, 3, 3), got {tuple(intrinsics.shape)}"
        )
    b, v = intrinsics.shape[:2]
    _check_matrix("sensor2ego", sensor2ego, (4, 4))
    if tuple(sensor2ego.shape[:2]) != (b, v):
        raise ValueError(
            f"ipm_points: sensor2ego must be ({b}, {v}, 4, 4), got {tuple(sensor2ego.shape)}"
        )
    if len(feat_hw) != 2 or min(int(s) for s in feat_hw) <= 0 or int(feat_stride) <= 0:
        raise ValueError(
            f"ipm_points: feat_hw must be (Hf, Wf) > 0 and feat_stride > 0, got "
            f"{feat_hw!r}, {feat_stride!r}"
        )
    dev, f64 = intrinsics.device, torch.float64
    k = intrinsics.to(f64)
    cam2ego = sensor2ego.to(f64)
    aug = torch.eye(3, dtype=f64, device=dev).expand(b, v, 3, 3) if img_aug is None else None
    if aug is None:
        if tuple(img_aug.shape) != (b, v, 3, 3):
            raise ValueError(
                f"ipm_points: img_aug must be ({b}, {v}, 3, 3), got {tuple(img_aug.shape)}"
            )
        aug = img_aug.to(f64)
    if bev_aug is None:
        ego2aug = torch.eye(4, dtype=f64, device=dev).expand(b, 4, 4)
    else:
        if tuple(bev_aug.shape) != (b, 4, 4):
            raise ValueError(f"ipm_points: bev_aug must be ({b}, 4, 4), got {tuple(bev_aug.shape)}")
        ego2aug = bev_aug.to(f64)

    cells = bev_cell_centres(bev_size).to(dev)  # (Hb, Wb, 2) augmented ego x, y
    hb, wb = cells.shape[:2]
    homo = torch.cat([cells, torch.zeros_like(cells[..., :1]), torch.ones_like(cells[..., :1])], -1)
    homo = homo.reshape(-1, 4).T  # (4, Hb*Wb)
    # augmented ego -> ego -> camera, then K and the image augmentation
    aug2cam = torch.linalg.inv(cam2ego) @ torch.linalg.inv(ego2aug).unsqueeze(1)  # (B, V, 4, 4)
    cam = aug2cam @ homo  # (B, V, 4, N)
    depth = cam[:, :, 2]
    pix = k @ cam[:, :, :3]
    z = pix[:, :, 2:3]
    safe = torch.where(depth.unsqueeze(2) > _MIN_DEPTH, z, torch.ones_like(z))
    uv1 = torch.cat([pix[:, :, :2] / safe, torch.ones_like(z)], dim=2)
    uvw = aug @ uv1
    uv = uvw[:, :, :2] / uvw[:, :, 2:3]
    stride = float(feat_stride)
    uv = (uv + 0.5) / stride - 0.5  # (B, V, 2, N) feature pixels
    hf, wf = int(feat_hw[0]), int(feat_hw[1])
    u, vv = uv[:, :, 0], uv[:, :, 1]
    inside = (depth > _MIN_DEPTH) & (u >= -1) & (u <= wf) & (vv >= -1) & (vv <= hf)
    uv = torch.where(inside.unsqueeze(2), uv, torch.full_like(uv, OUTSIDE))
    return uv.permute(0, 1, 3, 2).reshape(b, v, hb, wb, 2).to(torch.float32)
