"""Intersection over union of rotated boxes in bird's-eye view (exact convex polygon overlap)."""

from __future__ import annotations

import torch

__all__ = ["bev_box_corners", "rotated_iou_pairs"]

_EPS = 1e-9


def bev_box_corners(boxes: torch.Tensor) -> torch.Tensor:
    """``(N, 4, 2)`` counter-clockwise corners of ``(N, 5)`` boxes ``x, y, w, l, yaw``.

    ``l`` lies along the heading ``(cos yaw, sin yaw)``, ``w`` across it (the ego-frame box
    convention of ``gt_boxes``)."""
    x, y, w, l, yaw = boxes.unbind(-1)
    c, s = torch.cos(yaw), torch.sin(yaw)
    # local (along, across) offsets in counter-clockwise order
    sa = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=boxes.dtype, device=boxes.device)
    sc = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=boxes.dtype, device=boxes.device)
    a = sa * (l / 2)[:, None]
    b = sc * (w / 2)[:, None]
    px = x[:, None] + a * c[:, None] - b * s[:, None]
    py = y[:, None] + a * s[:, None] + b * c[:, None]
    return torch.stack([px, py], dim=-1)


def _inside(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``(M, P)`` whether each of ``(M, P, 2)`` points lies in (or on) its ``(M, 5)`` box."""
    x, y, w, l, yaw = (v[:, None] for v in boxes.unbind(-1))
    dx, dy = points[..., 0] - x, points[..., 1] - y
    along = dx * torch.cos(yaw) + dy * torch.sin(yaw)
    across = -dx * torch.sin(yaw) + dy * torch.cos(yaw)
    tol = 1e-9 * (1.0 + torch.maximum(w, l))
    return (along.abs() <= l / 2 + tol) & (across.abs() <= w / 2 + tol)


def _edge_intersections(ca: torch.Tensor, cb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Points where the 4 edges of each ``ca`` polygon cross the 4 edges of ``cb``:
    ``(M, 16, 2)`` points and ``(M, 16)`` validity."""
    a1 = ca[:, :, None, :]
    da = (ca.roll(-1, dims=1) - ca)[:, :, None, :]
    b1 = cb[:, None, :, :]
    db = (cb.roll(-1, dims=1) - cb)[:, None, :, :]

    def cross(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    denom = cross(da, db)
    ab = b1 - a1
    ok = denom.abs() > _EPS
    safe = torch.where(ok, denom, torch.ones_like(denom))
    t = cross(ab, db) / safe
    u = cross(ab, da) / safe
    valid = ok & (t >= -1e-9) & (t <= 1 + 1e-9) & (u >= -1e-9) & (u <= 1 + 1e-9)
    pts = a1 + t[..., None] * da
    return pts.reshape(len(ca), 16, 2), valid.reshape(len(ca), 16)


def rotated_iou_pairs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of ``a[k]`` and ``b[k]`` for ``(M, 5)`` boxes ``x, y, w, l, yaw``; returns ``(M,)``.

    The overlap of two convex quadrilaterals is the convex polygon whose vertices are the
    corners of each box inside the other and the crossings of their edges; the vertices are
    ordered by angle around their mean and the area is the shoelace sum. Computed in float64.
    """
    if a.shape != b.shape or a.dim() != 2 or a.shape[-1] != 5:
        raise ValueError(
            f"rotated_iou_pairs expects two (M, 5) tensors, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    out_dtype = a.dtype if a.dtype.is_floating_point else torch.float32
    a, b = a.double(), b.double()
    if len(a) == 0:
        return torch.zeros(0, dtype=out_dtype, device=a.device)
    ca, cb = bev_box_corners(a), bev_box_corners(b)
    cross_pts, cross_ok = _edge_intersections(ca, cb)
    pts = torch.cat([ca, cb, cross_pts], dim=1)
    valid = torch.cat([_inside(ca, b), _inside(cb, a), cross_ok], dim=1)
    n = valid.sum(1, keepdim=True).clamp(min=1)
    centre = (pts * valid[..., None]).sum(1, keepdim=True) / n[..., None]
    d = pts - centre
    angle = torch.atan2(d[..., 1], d[..., 0])
    angle = torch.where(valid, angle, torch.full_like(angle, 10.0))
    order = angle.argsort(dim=1)
    pts = pts.gather(1, order[..., None].expand(-1, -1, 2))
    valid = valid.gather(1, order)
    # invalid points (sorted last) collapse onto the first one: zero-area shoelace terms
    pts = torch.where(valid[..., None], pts, pts[:, :1, :])
    nxt = pts.roll(-1, dims=1)
    inter = 0.5 * (pts[..., 0] * nxt[..., 1] - pts[..., 1] * nxt[..., 0]).sum(1).abs()
    inter = torch.where(valid.sum(1) >= 3, inter, torch.zeros_like(inter))
    area_a = a[:, 2] * a[:, 3]
    area_b = b[:, 2] * b[:, 3]
    union = area_a + area_b - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
    return iou.clamp(0.0, 1.0).to(out_dtype)
