"""``BevSegDecoder``: the map-segmentation branch of the BEV multitask model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from hat.models.task_modules.fcn.bev_to_map import (
    bev_grid_shape,
    bev_to_map_grid,
    map_grid_shape,
    resample_to_map,
)
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevSegDecoder"]


@OBJECT_REGISTRY.register
class BevSegDecoder(nn.Module):
    """Head on the BEV features; loss and class map on the map grid.

    Args:
        name: task name (the loss key is ``f"{name}_loss"``).
        head: segmentation head, ``head(feats) -> (B, C, Hb, Wb)`` logits on the BEV grid
            (e.g. :class:`~hat.models.task_modules.fcn.DepthwiseSeparableFCNHead`).
        target: ``target(label, pred) -> loss kwargs`` (:class:`FCNTarget`).
        loss: ``loss(**kwargs) -> {key: loss}`` or a loss tensor (``CrossEntropyLossV2``).
        decoder: ``decoder(logits) -> (B, rows, cols)`` class ids (:class:`FCNDecoder`).
        bev_size: ``(x_range_m, y_range_m, res_m)`` of the BEV grid (recipe ``(51.2, 51.2, 0.8)``).
        task_size: the map grid ``(lateral_half_m, forward_half_m, res_m)`` (the data's
            ``map_size``, recipe ``(15, 30, 0.15)``: 200 rows along ego y, 400 cols along ego x).
        use_bce: the loss and decoder use per-class sigmoids (informational: the ``loss`` and
            ``decoder`` are configured to match).
        task_weight: factor on the loss.

    The map grid is cut out of the BEV grid by a fixed bilinear resampling of the logits: every
    map cell samples the BEV logits at its centre's ego coordinates (``grid_sample`` grid
    computed once, ``align_corners=False``; see :mod:`~hat.models.task_modules.fcn.bev_to_map`).
    It runs in float on the head's output, outside the deployed graph.

    - ``forward(feats) -> head(feats)`` (BEV-grid logits, the deployed output);
    - ``loss(head_out, data) -> {f"{name}_loss": task_weight * loss}`` against
      ``data["gt_seg_mask"]`` ``(B, rows, cols)``;
    - ``post_process(head_out, data=None) -> (B, rows, cols)`` int64 class ids.
    """

    def __init__(
        self,
        name: str,
        head: nn.Module,
        target: nn.Module | None,
        loss: nn.Module,
        decoder: nn.Module,
        bev_size: Sequence[float],
        task_size: Sequence[float],
        use_bce: bool = False,
        task_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(f"BevSegDecoder: name must be a non-empty string, got {name!r}")
        self.name = name
        self.head = head
        self.target = target
        self.loss_module = loss
        self.decoder = decoder
        self.bev_size = tuple(float(v) for v in bev_size)
        self.task_size = tuple(float(v) for v in task_size)
        self.bev_shape = bev_grid_shape(self.bev_size)
        self.map_shape = map_grid_shape(self.task_size)
        self.use_bce = bool(use_bce)
        self.task_weight = float(task_weight)
        self.register_buffer("map_grid", bev_to_map_grid(self.bev_size, self.task_size), False)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.head(feats)

    def to_map(self, head_out: torch.Tensor) -> torch.Tensor:
        """BEV-grid logits ``(B, C, Hb, Wb)`` -> map-grid logits ``(B, C, rows, cols)``."""
        if not isinstance(head_out, torch.Tensor) or head_out.dim() != 4:
            raise ValueError(
                f"BevSegDecoder {self.name!r}: head output must be (B, C, H, W) logits on the "
                f"BEV grid, got {getattr(head_out, 'shape', type(head_out))}"
            )
        return resample_to_map(head_out, self.map_grid)

    def loss(self, head_out: torch.Tensor, data: Mapping) -> dict[str, torch.Tensor]:
        if "gt_seg_mask" not in data:
            raise KeyError(f"BevSegDecoder {self.name!r}: the batch has no 'gt_seg_mask'")
        gt = torch.as_tensor(data["gt_seg_mask"]).to(head_out.device)
        if gt.dim() != 3 or tuple(gt.shape[1:]) != self.map_shape:
            raise ValueError(
                f"BevSegDecoder {self.name!r}: gt_seg_mask must be (B, {self.map_shape[0]}, "
                f"{self.map_shape[1]}) for task_size {self.task_size}, got {tuple(gt.shape)}"
            )
        pred = self.to_map(head_out)
        kwargs = self.target(gt, pred) if self.target is not None else {"pred": pred, "target": gt}
        out = self.loss_module(**kwargs)
        value = sum(out.values()) if isinstance(out, Mapping) else out
        return {f"{self.name}_loss": value * self.task_weight}

    @torch.no_grad()
    def post_process(self, head_out: torch.Tensor, data: Mapping | None = None) -> torch.Tensor:
        return self.decoder(self.to_map(head_out)).long()

    def fuse_model(self) -> None:
        if hasattr(self.head, "fuse_model"):
            self.head.fuse_model()

    def set_qconfig(self) -> None:
        """The head's own overrides; target, loss and decoder stay float."""
        for m in (self.target, self.loss_module, self.decoder):
            if m is not None:
                m.qconfig = None
        if hasattr(self.head, "set_qconfig"):
            self.head.set_qconfig()
