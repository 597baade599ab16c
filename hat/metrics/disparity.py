"""Stereo disparity metrics and the helpers :class:`~hat.metrics.epe.EndPointError` shares.

A disparity target is ``(B, 1, H, W)`` (or one ``(1, H, W)`` sample); predictions are
``(B, 1, H, W)`` or ``(B, H, W)``, a dict holding ``"disp"`` (or ``"disps"``, ``"pred_disp"``,
``"pred_disps"``, ``"pred"``), or a list of levels, of which the largest is used. A prediction
of another size is resized bilinearly and its values scaled by the width ratio. With
``use_mask`` only pixels with ``0 < gt < max_disp`` count (the usual SceneFlow protocol).
Every metric is pixel-averaged over the whole split: sum over all valid pixels of all images,
divided by their count (not a mean of per-image means).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from hat.metrics.metric import EvalMetric
from hat.registry import OBJECT_REGISTRY

__all__ = [
    "D1Error",
    "disparity_errors",
    "find_disparity_target",
    "resize_disparity",
    "stereo_valid_mask",
]

_PRED_KEYS = ("disp", "disps", "pred_disp", "pred_disps", "pred")
_TARGET_KEYS = ("gt_disp", "disp")


def _largest(tensors: list[torch.Tensor]) -> torch.Tensor:
    return max(tensors, key=lambda t: t.shape[-2] * t.shape[-1])


def _pick(x: Any, keys: Sequence[str], what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, dict):
        for key in keys:
            if key in x:
                return _pick(x[key], keys, what)
        raise KeyError(f"no {what} in dict with keys {sorted(x)}: expected one of {list(keys)}")
    if isinstance(x, (list, tuple)) and x:
        return _largest([_pick(v, keys, what) for v in x])
    raise TypeError(f"cannot find a {what} tensor in {type(x).__name__}")


def _is_disparity(t: torch.Tensor) -> bool:
    return (t.dim() == 4 and t.shape[1] == 1) or (t.dim() == 3 and t.shape[0] == 1)


def find_disparity_target(target: Any) -> torch.Tensor | None:
    """The ``(B, 1, H, W)`` disparity in ``target``, or None if it is not a disparity target."""
    if isinstance(target, dict) and not any(k in target for k in _TARGET_KEYS):
        return None
    try:
        t = _pick(target, _TARGET_KEYS, "disparity target")
    except (KeyError, TypeError):
        return None
    if not _is_disparity(t):
        return None
    return t if t.dim() == 4 else t.unsqueeze(0)


def resize_disparity(disp: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize ``(B, 1, h, w)`` disparity to ``size = (H, W)`` bilinearly, values times ``W / w``."""
    h, w = disp.shape[-2:]
    if (h, w) == (int(size[0]), int(size[1])):
        return disp
    out = F.interpolate(
        disp, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=False
    )
    return out * (int(size[1]) / w)


def stereo_valid_mask(gt: torch.Tensor, max_disp: float) -> torch.Tensor:
    """Pixels with a finite ``0 < gt < max_disp``."""
    return torch.isfinite(gt) & (gt > 0) & (gt < max_disp)


def disparity_errors(
    gt: torch.Tensor, preds: Any, use_mask: bool, max_disp: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(|pred - gt|, gt)`` over the counted pixels, flattened, float64."""
    gt = gt.detach().to(torch.float64)
    pred = _pick(preds, _PRED_KEYS, "disparity prediction").detach()
    if pred.dim() == 3 and pred.shape[0] == gt.shape[0]:
        pred = pred.unsqueeze(1)
    if pred.dim() != 4 or pred.shape[1] != 1 or pred.shape[0] != gt.shape[0]:
        raise ValueError(
            f"disparity metric: expected preds (B, 1, H, W) or (B, H, W) for a target "
            f"{tuple(gt.shape)}, got {tuple(pred.shape)}"
        )
    pred = resize_disparity(pred.to(torch.float64), gt.shape[-2:]).to(gt.device)
    err = (pred - gt).abs()
    if use_mask:
        valid = stereo_valid_mask(gt, max_disp)
        return err[valid], gt[valid]
    return err.flatten(), gt.flatten()


@OBJECT_REGISTRY.register
class D1Error(EvalMetric):
    """Fraction (0..1) of pixels whose disparity error exceeds ``abs_thresh`` px **and**
    ``rel_thresh`` of the true disparity (KITTI's D1), pooled over all pixels of the split.

    ``update(target, preds)`` with a ``(B, 1, H, W)`` target (see the module docstring).
    States (float64, summed over DDP ranks): ``bad_count`` and ``pixel_count``.
    """

    def __init__(
        self,
        name: str = "D1",
        use_mask: bool = True,
        max_disp: float = 192.0,
        abs_thresh: float = 3.0,
        rel_thresh: float = 0.05,
    ) -> None:
        super().__init__(name)
        self.use_mask, self.max_disp = use_mask, float(max_disp)
        self.abs_thresh, self.rel_thresh = float(abs_thresh), float(rel_thresh)
        self.add_state("bad_count", torch.zeros((), dtype=torch.float64))
        self.add_state("pixel_count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, target: Any, preds: Any) -> None:
        gt = find_disparity_target(target)
        if gt is None:
            raise ValueError("D1Error: expected a (B, 1, H, W) disparity target")
        err, gt_valid = disparity_errors(gt, preds, self.use_mask, self.max_disp)
        bad = (err > self.abs_thresh) & (err > self.rel_thresh * gt_valid.abs())
        self.bad_count = self.bad_count + bad.sum().cpu().to(torch.float64)
        self.pixel_count = self.pixel_count + float(err.numel())

    def compute(self) -> float:
        count = float(self.pixel_count)
        return float(self.bad_count) / count if count > 0 else float("nan")
