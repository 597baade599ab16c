"""StereoNet task module: backbone + head + post-process + masked multi-level loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["StereoNet"]


@OBJECT_REGISTRY.register
class StereoNet(nn.Module):
    """Stereo disparity task following the model contract of ``docs/design.md``.

    Args:
        backbone: ``img (B, 6, H, W) -> features`` (``StereoNetNeck``; left then right image).
        head: ``features -> [disp_coarsest, ..., disp_finest]`` in units of ``maxdisp``
            (``StereoNetHead``).
        post_process: ``StereoNetPostProcess``: to pixels at the input resolution.
        loss: ``loss(pred, target) -> scalar`` on the valid pixels (``SmoothL1Loss``).
        loss_weights: one weight per predicted level, coarsest first (HAT: ``[0.3, 0.3, 0.5,
            0.5, 1.0]`` for the volume's soft-argmin and four refinements).

    ``forward(data)``:
        - training (needs ``data["gt_disp"]``, ``(B, 1, H, W)`` or ``(B, H, W)`` pixels):
          ``{"losses": {"disp_loss_l0": w0 * loss0, ...}, "pred_disps": [every level at input
          resolution, pixels], "disp": finest (detached)}``. Each level is resized to the
          target's size, and the loss only counts pixels with ``0 < gt < maxdisp``.
        - eval: the finest disparity ``(B, 1, H, W)`` in input pixels.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        post_process: nn.Module,
        loss: nn.Module | None = None,
        loss_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.post_process = post_process
        self.loss = loss
        self.loss_weights = [float(w) for w in loss_weights] if loss_weights is not None else None
        self.maxdisp = int(getattr(post_process, "maxdisp", getattr(head, "maxdisp", 192)))

    def deploy_output_lsb(self, dequant_scales: dict[str, float]) -> list[float]:
        """LSB of the deployed output (pixels): the scale of the finest quantized disparity
        (the head's last DeQuantStub) times ``maxdisp`` (the float post-processing's gain).
        ``dequant_scales`` maps DeQuantStub names to the scales of what they dequantize."""
        last = f"head.dequant.{len(getattr(self.head, 'dequant', [])) - 1}"
        scale = dequant_scales.get(last, min(dequant_scales.values()))
        return [scale * float(self.maxdisp)]

    def forward(self, data: dict) -> dict | torch.Tensor:
        if not isinstance(data, dict) or "img" not in data:
            raise TypeError("StereoNet expects a batch dict with 'img' (B, 6, H, W)")
        if self.training and "gt_disp" not in data:
            raise KeyError("StereoNet in training mode needs data['gt_disp']")
        preds = self.head(self.backbone(data["img"]))
        if not self.training:
            return self.post_process(preds)
        gt = data["gt_disp"]
        if gt.dim() == 3:
            gt = gt.unsqueeze(1)
        full = self.post_process(preds, gt.shape[-2:])
        return {
            "losses": self.compute_losses(full, gt),
            "pred_disps": full,
            "disp": full[-1].detach(),
        }

    def compute_losses(
        self, preds: Sequence[torch.Tensor], gt: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Weighted loss per level on pixels with ``0 < gt < maxdisp``, named
        ``disp_loss_l{i}`` (``l0`` the volume's soft-argmin)."""
        if self.loss is None or self.loss_weights is None:
            raise RuntimeError("StereoNet needs `loss` and `loss_weights` to train")
        if len(self.loss_weights) != len(preds):
            raise ValueError(
                f"StereoNet: {len(self.loss_weights)} loss_weights for {len(preds)} predicted "
                "levels (coarsest first)"
            )
        gt = gt.to(preds[0].dtype)
        mask = (gt > 0) & (gt < self.maxdisp)
        target = gt[mask]
        return {
            f"disp_loss_l{i}": w * self.loss(p[mask], target)
            for i, (p, w) in enumerate(zip(preds, self.loss_weights))
        }

    def fuse_model(self) -> None:
        """Delegates to backbone and head (the quantizer does the Conv-BN fusion)."""
        for m in (self.backbone, self.head):
            if hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        """The default qconfig on the whole model, the backbone's and head's own overrides
        (int16 disparity path), none on the loss and the float post-process."""
        from hat.quantization import default_set_qconfig

        default_set_qconfig(self)
        for m in (self.loss, self.post_process):
            if m is not None:
                m.qconfig = None
        if hasattr(self.backbone, "set_qconfig"):
            self.backbone.set_qconfig()
        if hasattr(self.head, "set_qconfig"):
            self.head.set_qconfig(self.qconfig)
