"""``BevDetDecoder``: the 3D detection task of a BEV model (head, targets, losses, decoding)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["BevDetDecoder"]


def _clamped_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return x.float().sigmoid().clamp(1e-4, 1 - 1e-4)


@OBJECT_REGISTRY.register
class BevDetDecoder(nn.Module):
    """CenterPoint detection on BEV features: ``head`` (a module), ``target``
    (:class:`CenterPoint3dTarget`), ``loss_cls`` (heatmaps, ``GaussianFocalLoss``),
    ``loss_reg`` (box codes, ``L1Loss``) and ``decoder`` (:class:`CenterPoint3dDecoder`).

    * ``forward(feats) -> head_out``: the head's per-task dicts.
    * ``loss(head_out, data)``: targets from ``data["gt_boxes"]`` / ``data["gt_labels"]``
      (ego frame, after the BEV augmentation) on the heatmap grid; per task ``t``:
      ``{name}_task{t}_heatmap_loss = loss_cls(clamp(sigmoid(heatmap), 1e-4, 1 - 1e-4),
      heatmap_target, avg_factor=max(#peaks, 1))`` and ``{name}_task{t}_bbox_loss =
      loss_reg(pred_codes, codes, box_weights, avg_factor=#boxes + 1e-4)`` where the
      predicted codes are ``reg, height, dim, rot, vel`` gathered at the boxes' cells, both
      multiplied by ``task_weight`` (CenterPoint's normalisation).
    * ``post_process(head_out, data=None) -> decoder(head_out)``.

    ``target``, ``loss_*`` and ``decoder`` are never quantized (``set_qconfig`` leaves them
    float); ``fuse_model``/``set_qconfig`` reach the head.
    """

    _REG_KEYS = ("reg", "height", "dim", "rot", "vel")

    def __init__(
        self,
        name: str,
        head: nn.Module,
        target: Callable,
        loss_cls: nn.Module,
        loss_reg: nn.Module,
        decoder: Callable,
        task_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.name = str(name)
        self.head = head
        self.target = target
        self.loss_cls = loss_cls
        self.loss_reg = loss_reg
        self.decoder = decoder
        self.task_weight = float(task_weight)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return self.head(feats)

    def loss(
        self, head_out: Sequence[Mapping[str, torch.Tensor]], data: Mapping
    ) -> dict[str, torch.Tensor]:
        for key in ("gt_boxes", "gt_labels"):
            if key not in data:
                raise KeyError(f"BevDetDecoder {self.name!r}: loss needs data[{key!r}]")
        feat_hw = tuple(head_out[0]["heatmap"].shape[-2:])
        heatmaps, anno_boxes, inds, masks = self.target(
            data["gt_boxes"], data["gt_labels"], feat_hw
        )
        device = head_out[0]["heatmap"].device
        anno_boxes, inds, masks = anno_boxes.to(device), inds.to(device), masks.to(device)
        weights = self.target.box_weights(anno_boxes, masks)
        codes = torch.nan_to_num(anno_boxes)
        losses = {}
        for t, out in enumerate(head_out):
            hm_target = heatmaps[t].to(device)
            num_pos = max(float(hm_target.eq(1).float().sum()), 1.0)
            hm_loss = self.loss_cls(_clamped_sigmoid(out["heatmap"]), hm_target, avg_factor=num_pos)
            pred = self._gather_codes(out, inds[:, t])
            num_box = masks[:, t].float().sum()
            box_loss = self.loss_reg(pred, codes[:, t], weights[:, t], avg_factor=num_box + 1e-4)
            losses[f"{self.name}_task{t}_heatmap_loss"] = hm_loss * self.task_weight
            losses[f"{self.name}_task{t}_bbox_loss"] = box_loss * self.task_weight
        return losses

    def _gather_codes(self, out: Mapping[str, torch.Tensor], inds: torch.Tensor) -> torch.Tensor:
        missing = [k for k in self._REG_KEYS if k not in out]
        if missing:
            raise KeyError(
                f"BevDetDecoder {self.name!r}: the head output lacks {missing} "
                f"(keys: {sorted(out)})"
            )
        maps = torch.cat([out[k].float() for k in self._REG_KEYS], dim=1)
        b, c = maps.shape[:2]
        flat = maps.reshape(b, c, -1)
        return flat.gather(2, inds[:, None, :].expand(-1, c, -1)).transpose(1, 2)

    def post_process(
        self, head_out: Sequence[Mapping[str, torch.Tensor]], data: Mapping | None = None
    ) -> list[dict]:
        return self.decoder(head_out)

    def fuse_model(self) -> None:
        if hasattr(self.head, "fuse_model"):
            self.head.fuse_model()

    def set_qconfig(self, qconfig=None) -> None:
        """The head's own overrides (on top of ``qconfig``); losses stay float."""
        for m in (self.loss_cls, self.loss_reg):
            if isinstance(m, nn.Module):
                m.qconfig = None
        if hasattr(self.head, "set_qconfig"):
            self.head.set_qconfig(qconfig)
