"""``Segmentor``: backbone + neck + head (+ loss) for semantic segmentation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hat.data.transforms.seg_resize import resize_label
from hat.registry import OBJECT_REGISTRY

__all__ = ["Segmentor"]


@OBJECT_REGISTRY.register
class Segmentor(nn.Module):
    """Segmentation task following the model contract of ``docs/design.md``.

    Args:
        backbone: ``img (B, 3, H, W) -> features`` (e.g. ``MobileNetV1``, finest first).
        neck: ``features -> features`` (e.g. ``DwUnet``); optional.
        head: ``features -> [pred per output stride]`` (e.g. ``SegHead``), finest first.
        losses: ``losses(preds, targets) -> {name: loss}`` (e.g. ``ClassificationFocalLoss``);
            needed for training only.
        channels_last: run the network on a channels-last copy of the image (same values;
            oneDNN's CPU depthwise convolutions are faster in that layout).

    ``forward(data)``:

    - training: ``{"losses": {name: weighted loss}, "preds": [logits per stride]}``.
      ``data["gt_seg"]`` is the ``Scale`` batch transform's list (one level per prediction,
      finest first; one-hot or id maps), or one full-resolution tensor that is resized to
      every prediction (one-hot: bilinear, ids: nearest). A level whose size differs from its
      prediction's (rounding of sizes that are not multiples of 64) is resized the same way.
    - eval: the head's outputs; a single tensor when the head has one output stride (the
      deploy model: e.g. the stride-4 class map ``(B, 1, H/4, W/4)``), else the list.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        neck: nn.Module | None = None,
        losses: nn.Module | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.channels_last = bool(channels_last)
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.losses = losses

    def forward(self, data: dict) -> dict | torch.Tensor | list[torch.Tensor]:
        if not isinstance(data, dict) or "img" not in data:
            raise TypeError("Segmentor expects a batch dict with 'img' (B, 3, H, W)")
        img = data["img"]
        if self.channels_last:
            img = img.contiguous(memory_format=torch.channels_last)
        feats = self.backbone(img)
        if self.neck is not None:
            feats = self.neck(feats)
        preds = self.head(feats)
        if not self.training:
            return preds[0] if len(preds) == 1 else preds
        if self.losses is None:
            raise RuntimeError("Segmentor needs `losses` to train")
        if "gt_seg" not in data:
            raise KeyError("Segmentor in training mode needs data['gt_seg']")
        targets = self._level_targets(preds, data["gt_seg"])
        return {"losses": self.losses(preds, targets), "preds": preds}

    @staticmethod
    def _level_targets(
        preds: list[torch.Tensor], gt: torch.Tensor | Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        levels = [gt] * len(preds) if isinstance(gt, torch.Tensor) else list(gt)
        if len(levels) < len(preds):
            raise ValueError(f"Segmentor: {len(levels)} gt_seg levels for {len(preds)} predictions")
        out = []
        for p, t in zip(preds, levels):
            if t.shape[-2:] != p.shape[-2:]:
                t4 = t if t.dim() == 4 else t[:, None]
                t = resize_label(t4, p.shape[-2:], mode="bilinear")
            out.append(t)
        return out

    def fuse_model(self) -> None:
        """Delegates to the parts (the quantizer does the actual Conv-BN fusion)."""
        for m in (self.backbone, self.neck, self.head):
            if m is not None and hasattr(m, "fuse_model"):
                m.fuse_model()

    def set_qconfig(self) -> None:
        """HAT's default qconfig on the whole model, then the parts' own overrides (e.g. the
        head's high-precision outputs); the loss is never quantized."""
        from hat.quantization import default_set_qconfig

        default_set_qconfig(self)
        if self.losses is not None:
            self.losses.qconfig = None
        for m in (self.backbone, self.neck, self.head):
            if m is not None and hasattr(m, "set_qconfig"):
                m.set_qconfig()
