"""Softmax focal loss for dense classification (segmentation), one weight per output level."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["ClassificationFocalLoss", "softmax_focal_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def softmax_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Element-wise ``-alpha * t * (1 - p) ** gamma * log p`` with ``p = softmax(logits, 1)``.

    ``target`` is one-hot or soft ``(B, C, H, W)`` (all-zero pixels contribute 0). Returns the
    ``(B, C, H, W)`` loss in float32.
    """
    logp = F.log_softmax(logits.float(), dim=1)
    p = logp.exp()
    return -alpha * target.float() * (1.0 - p).pow(gamma) * logp


@OBJECT_REGISTRY.register
class ClassificationFocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017) over classes with a softmax, on logits ``(B, C, H, W)``.

    Args:
        loss_name: key of the loss in the returned dict (``"{loss_name}_{i}"`` per level for
            lists of predictions, ``i = 0`` finest).
        num_classes: C; targets given as class ids are one-hot encoded to C channels.
        alpha, gamma: focal parameters (``(1 - p_t) ** gamma`` down-weights easy pixels).
        weight: a factor for every level, or one per level (HAT's recipe:
            ``(256, 128, 64, 32, 16) / 19`` for strides 4..64).
        reduction: ``"mean"`` over every element ``B * C * H * W`` (HAT's convention:
            ignored pixels count in the denominator with zero loss), ``"sum"`` or ``"none"``.
        ignore_index: id of ignored pixels when targets are id maps.

    ``forward(preds, targets)``: ``preds`` a logits tensor or a list of them (finest first);
    ``targets`` likewise: one-hot/soft ``(B, C, h, w)`` float (e.g. the ``Scale`` batch
    transform's levels) or ids ``(B, h, w)`` / ``(B, 1, h, w)``. Returns ``{name: weighted
    loss}``.
    """

    def __init__(
        self,
        loss_name: str = "focal",
        num_classes: int = 19,
        alpha: float = 0.25,
        gamma: float = 2.0,
        weight: float | Sequence[float] = 1.0,
        reduction: str = "mean",
        ignore_index: int = 255,
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"ClassificationFocalLoss: reduction must be one of {_REDUCTIONS}, "
                f"got {reduction!r}"
            )
        if int(num_classes) <= 0:
            raise ValueError(f"ClassificationFocalLoss: num_classes must be > 0: {num_classes}")
        self.loss_name = loss_name
        self.num_classes = int(num_classes)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.weight = (
            float(weight) if isinstance(weight, (int, float)) else [float(w) for w in weight]
        )
        self.reduction = reduction
        self.ignore_index = int(ignore_index)

    def _weight(self, level: int, levels: int) -> float:
        if isinstance(self.weight, float):
            return self.weight
        if len(self.weight) < levels:
            raise ValueError(
                f"ClassificationFocalLoss: {len(self.weight)} weights for {levels} levels"
            )
        return self.weight[level]

    def _one_hot(self, target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if target.is_floating_point() and target.dim() == 4 and target.shape[1] > 1:
            if target.shape[1] != self.num_classes:
                raise ValueError(
                    f"ClassificationFocalLoss: target has {target.shape[1]} channels, "
                    f"expected num_classes={self.num_classes}"
                )
            return target
        ids = target[:, 0] if target.dim() == 4 else target
        ids = ids.long()
        valid = (ids >= 0) & (ids < self.num_classes) & (ids != self.ignore_index)
        oh = F.one_hot(torch.where(valid, ids, 0), self.num_classes).permute(0, 3, 1, 2)
        return oh.to(like.dtype) * valid[:, None].to(like.dtype)

    def _reduce(self, loss: torch.Tensor) -> torch.Tensor:
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss

    def forward(
        self,
        preds: torch.Tensor | Sequence[torch.Tensor],
        targets: torch.Tensor | Sequence[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        single = isinstance(preds, torch.Tensor)
        preds_l = [preds] if single else list(preds)
        targets_l = [targets] if isinstance(targets, torch.Tensor) else list(targets)
        if len(targets_l) < len(preds_l):
            raise ValueError(
                f"ClassificationFocalLoss: {len(targets_l)} targets for {len(preds_l)} predictions"
            )
        out = {}
        for i, (pred, target) in enumerate(zip(preds_l, targets_l)):
            t = self._one_hot(target, pred.float())
            if t.shape[-2:] != pred.shape[-2:]:
                raise ValueError(
                    f"ClassificationFocalLoss: level {i}: prediction {tuple(pred.shape)} and "
                    f"target {tuple(t.shape)} differ in size"
                )
            loss = softmax_focal_loss(pred, t, self.alpha, self.gamma)
            name = self.loss_name if single else f"{self.loss_name}_{i}"
            out[name] = self._weight(i, len(preds_l)) * self._reduce(loss)
        return out
