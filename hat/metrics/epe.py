"""End-point error of optical flow and of stereo disparity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from hat.metrics.disparity import disparity_errors, find_disparity_target
from hat.metrics.metric import EvalMetric
from hat.registry import OBJECT_REGISTRY

__all__ = ["EndPointError", "resize_flow"]

# Middlebury .flo marks unknown flow with values >= 1e9.
_UNKNOWN_FLOW = 1e9


def resize_flow(flow: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize a ``(B, 2, h, w)`` pixel flow to ``size = (H, W)`` bilinearly and rescale its
    values to the new pixel units: ``u *= W / w``, ``v *= H / h``."""
    h, w = flow.shape[-2:]
    big_h, big_w = int(size[0]), int(size[1])
    if (h, w) == (big_h, big_w):
        return flow
    out = F.interpolate(flow, size=(big_h, big_w), mode="bilinear", align_corners=False)
    scale = torch.tensor([big_w / w, big_h / h], dtype=out.dtype, device=out.device)
    return out * scale.view(1, 2, 1, 1)


def _pick_flow(x: Any) -> torch.Tensor:
    """The full-resolution flow in a tensor, a dict (``"flow"``, else ``"flows"``) or a list
    (the element with the most pixels)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, dict):
        for key in ("flow", "flows", "pred", "gt_flow"):
            if key in x:
                return _pick_flow(x[key])
        raise KeyError(f"EndPointError: no 'flow' in dict with keys {sorted(x)}")
    if isinstance(x, (list, tuple)) and x:
        return max((_pick_flow(v) for v in x), key=lambda t: t.shape[-2] * t.shape[-1])
    raise TypeError(f"EndPointError: cannot find a flow tensor in {type(x).__name__}")


@OBJECT_REGISTRY.register
class EndPointError(EvalMetric):
    """Pixel-averaged end-point error ``mean ||pred - target||_2``, in the target's pixels.

    States (float64, summed over DDP ranks): ``epe_sum`` and ``pixel_count``.

    ``update(target, preds)``: ``target`` is ``(B, 2, H, W)`` (or ``(B, 3, H, W)`` with a
    validity channel, or a list of per-level targets, of which the largest is used);
    ``preds`` is a tensor, a dict holding ``"flow"``, or a list (the largest is used). A
    prediction of another size is resized bilinearly to the target's size and its values are
    rescaled to the target's pixel units (see :func:`resize_flow`).

    ``use_mask=True`` ignores pixels whose target is non-finite or >= 1e9 in magnitude (the
    ``.flo`` "unknown" marker) and, with a 3-channel target, pixels whose third channel is 0.

    Stereo: a 1-channel target ``(B, 1, H, W)`` (or a dict holding ``"gt_disp"``) is a
    disparity; the error is ``|pred - gt|`` and ``use_mask=True`` counts only pixels with
    ``0 < gt < max_disp`` (see :mod:`hat.metrics.disparity` for the accepted predictions).
    """

    def __init__(self, name: str = "EPE", use_mask: bool = False, max_disp: float = 192.0) -> None:
        super().__init__(name)
        self.use_mask = use_mask
        self.max_disp = float(max_disp)
        self.add_state("epe_sum", torch.zeros((), dtype=torch.float64))
        self.add_state("pixel_count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, target: Any, preds: Any) -> None:
        disp_gt = find_disparity_target(target)
        if disp_gt is not None:
            err, _ = disparity_errors(disp_gt, preds, self.use_mask, self.max_disp)
            self._add(err)
            return
        gt = _pick_flow(target).detach()
        pred = _pick_flow(preds).detach()
        if gt.dim() == 3:
            gt = gt.unsqueeze(0)
        if pred.dim() == 3:
            pred = pred.unsqueeze(0)
        if gt.shape[1] not in (2, 3) or pred.shape[1] != 2:
            raise ValueError(
                f"EndPointError: expected target (B, 2|3, H, W) and preds (B, 2, H, W), "
                f"got {tuple(gt.shape)} and {tuple(pred.shape)}"
            )
        valid_channel = gt[:, 2] if gt.shape[1] == 3 else None
        gt = gt[:, :2].to(torch.float64)
        pred = resize_flow(pred.to(torch.float64), gt.shape[-2:]).to(gt.device)
        epe = torch.linalg.vector_norm(pred - gt, dim=1)
        if self.use_mask:
            valid = torch.isfinite(gt).all(dim=1) & (gt.abs() < _UNKNOWN_FLOW).all(dim=1)
            if valid_channel is not None:
                valid &= valid_channel.to(gt.device) != 0
            epe = epe[valid]
        self._add(epe)

    def _add(self, errors: torch.Tensor) -> None:
        self.epe_sum = self.epe_sum + errors.sum().cpu()
        self.pixel_count = self.pixel_count + float(errors.numel())

    def compute(self) -> float:
        count = float(self.pixel_count)
        return float(self.epe_sum) / count if count > 0 else float("nan")
