"""PWC-Net task module: backbone + head + multi-level loss (train) or full-res flow (eval)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hat.nn import Interpolate, MulScalar
from hat.registry import OBJECT_REGISTRY

__all__ = ["PwcnetTask"]


@OBJECT_REGISTRY.register
class PwcnetTask(nn.Module):
    """Optical-flow task following the model contract of ``docs/design.md``.

    Args:
        backbone: ``img (B, 6, H, W) -> [feats1, feats2]`` (e.g. ``PwcNet``).
        head: ``[feats1, feats2] -> [flow_finest, ..., flow_coarsest]`` (e.g. ``PwcnetHead``),
            each flow in pixels of its level.
        loss: ``loss(pred, target) -> scalar`` (e.g. ``LnNormLoss``); needed for training only.
        loss_weights: one weight per predicted level, finest first (``[l2, ..., l6]``).
        int16_flow_output: quantize the module producing the finest flow (the context
            network's residual ``Add`` of the last level) with int16 activations instead of
            uint8 (mixed precision, README advice for flow outputs). Its inputs are uint8 conv
            outputs, so every convolution stays an integer kernel in ORT; the Add itself runs as
            a DQ -> Add -> Q float island (ORT has no int16 QLinearAdd).

    ``forward(data)``:
        - training: ``{"losses": {"flow_loss_l2": w2 * loss2, ..., "flow_loss_l6": ...},
          "flows": [flow_l2, ..., flow_l6], "flow": full-res flow (detached)}``.
          ``data["gt_flow"]`` is the ``Scale`` batch transform's list (finest first, values in
          each level's pixels). A target whose size differs from its prediction (rounding of
          odd sizes) is resized bilinearly to the prediction's size, values unchanged. A single
          full-resolution ``(B, 2, H, W)`` tensor is also accepted: it is resized to every
          level and divided by the level's stride.
        - eval: the finest flow resized bilinearly to the input size and multiplied by its
          stride (``2 ** flow_pred_lvl`` = 4): ``(B, 2, H, W)`` in input pixels.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        loss: nn.Module | None = None,
        loss_weights: Sequence[float] | None = None,
        int16_flow_output: bool = False,
    ) -> None:
        super().__init__()
        self.int16_flow_output = bool(int16_flow_output)
        self.backbone = backbone
        self.head = head
        self.loss = loss
        self.loss_weights = [float(w) for w in loss_weights] if loss_weights is not None else None
        self.flow_pred_lvl = int(getattr(head, "flow_pred_lvl", 2))
        self.stride = 2**self.flow_pred_lvl
        self.out_resize = Interpolate(mode="bilinear", align_corners=False)
        self.out_scale = MulScalar(float(self.stride))

    def deploy_output_lsb(self, dequant_scales: dict[str, float]) -> list[float]:
        """LSB of the deployed output: the finest quantized flow's scale times the stride (its
        float post-processing multiplies by the stride). ``dequant_scales`` maps DeQuantStub
        names to the scales of the tensors they dequantize."""
        names = [n for n in dequant_scales if n.endswith(f"l{self.flow_pred_lvl}")]
        scale = dequant_scales[names[0]] if names else min(dequant_scales.values())
        return [scale * float(self.stride)]

    def full_res_flow(self, flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Finest-level flow -> input resolution and input pixels."""
        return self.out_scale(self.out_resize(flow, size=tuple(size)))

    def forward(self, data: dict) -> dict | torch.Tensor:
        if not isinstance(data, dict) or "img" not in data:
            raise TypeError("PwcnetTask expects a batch dict with 'img' (B, 6, H, W)")
        img = data["img"]
        if self.training and "gt_flow" not in data:
            raise KeyError("PwcnetTask in training mode needs data['gt_flow']")
        flows = self.head(self.backbone(img))
        if not self.training:
            return self.full_res_flow(flows[0], img.shape[-2:])
        return {
            "losses": self.compute_losses(flows, data["gt_flow"]),
            "flows": flows,
            "flow": self.full_res_flow(flows[0].detach(), img.shape[-2:]),
        }

    def compute_losses(
        self, flows: list[torch.Tensor], gt: torch.Tensor | Sequence[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Weighted loss per level, named ``flow_loss_l{level}``."""
        if self.loss is None or self.loss_weights is None:
            raise RuntimeError("PwcnetTask needs `loss` and `loss_weights` to train")
        if len(self.loss_weights) != len(flows):
            raise ValueError(
                f"PwcnetTask: {len(self.loss_weights)} loss_weights for {len(flows)} predicted "
                "levels (finest first)"
            )
        targets = self._level_targets(flows, gt)
        losses = {}
        for i, (pred, target, w) in enumerate(zip(flows, targets, self.loss_weights)):
            losses[f"flow_loss_l{self.flow_pred_lvl + i}"] = w * self.loss(pred, target)
        return losses

    def _level_targets(
        self, flows: list[torch.Tensor], gt: torch.Tensor | Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        if isinstance(gt, torch.Tensor):
            strides = [2 ** (self.flow_pred_lvl + i) for i in range(len(flows))]
            return [_resize(gt, p.shape[-2:]) * (1.0 / s) for p, s in zip(flows, strides)]
        if len(gt) < len(flows):
            raise ValueError(
                f"PwcnetTask: {len(gt)} gt_flow targets for {len(flows)} predicted levels"
            )
        targets = []
        for p, t in zip(flows, gt):
            t = t.to(p.dtype)
            targets.append(t if t.shape[-2:] == p.shape[-2:] else _resize(t, p.shape[-2:]))
        return targets

    def fuse_model(self) -> None:
        """Delegates to backbone and head (the quantizer does the actual Conv-BN fusion)."""
        for m in (self.backbone, self.head):
            if hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        """HAT's default qconfig on the whole model (``default_set_qconfig``), then the
        backbone's and head's own overrides; the loss is never quantized (it only runs in
        training on float flows after the DeQuantStubs)."""
        from hat.quantization import default_set_qconfig, get_default_qconfig

        default_set_qconfig(self)
        if self.loss is not None:
            self.loss.qconfig = None
        for m in (self.backbone, self.head):
            if hasattr(m, "set_qconfig"):
                m.set_qconfig()
        if self.int16_flow_output:
            out = self.flow_output_module()
            if out is not None:
                out.qconfig = get_default_qconfig(activation_dtype="int16")

    def flow_output_module(self) -> nn.Module | None:
        """The module whose quantized output is the finest flow (None if not identifiable)."""
        levels = getattr(self.head, "levels", None)
        if levels is None:
            return None
        level = levels[f"l{self.flow_pred_lvl}"] if f"l{self.flow_pred_lvl}" in levels else None
        return getattr(level, "res_add", None) if level is not None else None


def _resize(t: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)
