"""``CrossEntropyLossV2``: class-weighted softmax cross entropy, or per-class binary cross entropy
on one-hot targets, for dense (segmentation) logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["CrossEntropyLossV2"]

_REDUCTIONS = ("mean", "sum", "none")


def _class_weight(value: float | Sequence[float] | None) -> float | list[float] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return [float(v) for v in value]
    raise TypeError(
        "CrossEntropyLossV2: class_weight must be None, a number or a non-empty list of numbers "
        f"(one per class), got {value!r}"
    )


@OBJECT_REGISTRY.register
class CrossEntropyLossV2(nn.Module):
    """Cross entropy of logits ``(B, C, ...)`` against class ids ``(B, ...)``.

    Args:
        loss_name: key of the loss in the returned dict; ``None`` returns the loss tensor.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per element).
        ignore_index: target id whose pixels contribute nothing (HAT: -1).
        use_sigmoid: ``False``: softmax cross entropy, exactly ``F.cross_entropy(pred, target,
            weight=class_weight, ignore_index=ignore_index, reduction=reduction)``: ``"mean"`` is
            torch's weighted mean ``sum_i w[t_i] * l_i / sum_i w[t_i]`` over non-ignored pixels
            (a scalar ``class_weight`` therefore cancels in the mean). ``True``: binary cross
            entropy with logits per class against the one-hot encoding of the ids (or against a
            ``(B, C, ...)`` float target given as is), each element weighted by its class's
            weight; ``"mean"`` divides the weighted sum by the number of elements of
            non-ignored pixels (``F.binary_cross_entropy_with_logits(weight=...)`` when nothing
            is ignored).
        class_weight: ``None``, a number (every class) or one weight per class (HAT's recipe:
            ``[1, 5, 5, 5]`` with softmax, ``2.0`` with sigmoid).
        loss_weight: factor on the loss.

    ``forward(pred, target)``: ``pred`` ``(B, C, ...)`` logits (computed in float32),
    ``target`` int ids ``(B, ...)`` (or ``(B, 1, ...)``). When every pixel is ignored the
    ``"mean"`` loss is 0 (torch would give NaN). Returns ``{loss_name: loss}`` or the loss.
    """

    def __init__(
        self,
        loss_name: str | None = None,
        reduction: str = "mean",
        ignore_index: int = -1,
        use_sigmoid: bool = False,
        class_weight: float | Sequence[float] | None = None,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"CrossEntropyLossV2: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
            )
        self.loss_name = loss_name
        self.reduction = reduction
        self.ignore_index = int(ignore_index)
        self.use_sigmoid = bool(use_sigmoid)
        self.class_weight = _class_weight(class_weight)
        self.loss_weight = float(loss_weight)

    def _weights(self, num_classes: int, ref: torch.Tensor) -> torch.Tensor | None:
        cw = self.class_weight
        if cw is None:
            return None
        if isinstance(cw, float):
            return torch.full((num_classes,), cw, dtype=torch.float32, device=ref.device)
        if len(cw) != num_classes:
            raise ValueError(
                f"CrossEntropyLossV2: class_weight has {len(cw)} entries for {num_classes} "
                "classes in pred (dim 1)"
            )
        return torch.tensor(cw, dtype=torch.float32, device=ref.device)

    def _check(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.dim() < 2:
            raise ValueError(
                f"CrossEntropyLossV2: pred must be (B, C, ...), got {tuple(pred.shape)}"
            )
        if target.dim() == pred.dim() and target.shape[1] == 1 and not target.is_floating_point():
            target = target.squeeze(1)
        if target.is_floating_point() and self.use_sigmoid and target.shape == pred.shape:
            return target
        if target.is_floating_point():
            raise TypeError(
                "CrossEntropyLossV2: target must hold integer class ids (B, ...), got a float "
                f"tensor {tuple(target.shape)}"
            )
        if target.shape != pred.shape[:1] + pred.shape[2:]:
            raise ValueError(
                f"CrossEntropyLossV2: target {tuple(target.shape)} does not match pred "
                f"{tuple(pred.shape)} without its class dim"
            )
        valid = target != self.ignore_index
        bad = valid & ((target < 0) | (target >= pred.shape[1]))
        if bool(bad.any()):
            raise ValueError(
                f"CrossEntropyLossV2: target ids must be in 0..{pred.shape[1] - 1} or "
                f"ignore_index={self.ignore_index}, got {int(target[bad][0])}"
            )
        return target.long()

    def _softmax_ce(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self._weights(pred.shape[1], pred)
        loss = F.cross_entropy(
            pred, target, weight=weight, ignore_index=self.ignore_index, reduction="none"
        )
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        valid = target != self.ignore_index
        if weight is None:
            denom = valid.sum().to(loss.dtype)
        else:
            denom = weight[target.clamp(0, pred.shape[1] - 1)][valid].sum()
        return loss.sum() / denom if bool(denom > 0) else loss.sum() * 0.0

    def _sigmoid_ce(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        c = pred.shape[1]
        if target.is_floating_point():
            onehot = target.float()
            valid = torch.ones_like(onehot)
        else:
            keep = target != self.ignore_index
            onehot = F.one_hot(target.clamp(0, c - 1), c).movedim(-1, 1).float()
            valid = keep.unsqueeze(1).expand_as(onehot).float()
        loss = F.binary_cross_entropy_with_logits(pred, onehot, reduction="none") * valid
        weight = self._weights(c, pred)
        if weight is not None:
            loss = loss * weight.view(1, c, *([1] * (pred.dim() - 2)))
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        count = valid.sum()
        return loss.sum() / count if bool(count > 0) else loss.sum() * 0.0

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> dict[str, torch.Tensor] | torch.Tensor:
        pred = pred.float()
        target = self._check(pred, target)
        if self.use_sigmoid:
            loss = self._sigmoid_ce(pred, target)
        else:
            loss = self._softmax_ce(pred, target)
        loss = self.loss_weight * loss
        return loss if self.loss_name is None else {self.loss_name: loss}
