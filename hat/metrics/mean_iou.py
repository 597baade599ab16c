"""Mean intersection over union of semantic segmentation (the Cityscapes benchmark definition).

One confusion matrix is accumulated over every pixel of the split (all images, all DDP ranks);
per-class IoU and its mean are computed from it once, not averaged over images:

- ``confusion[t, p]`` counts pixels whose target is class ``t`` (``0 <= t < C``) and whose
  prediction is ``p``; column ``C`` counts predictions outside ``[0, C)`` (a miss for ``t``,
  a false positive for nobody). Pixels whose target is ``ignore_index`` (or outside
  ``[0, C)``) are not counted at all, as in ``cityscapesscripts``.
- ``TP_c = confusion[c, c]``, ``FN_c = row_c.sum() - TP_c``, ``FP_c = column_c.sum() - TP_c``.
- ``IoU_c = TP_c / (TP_c + FP_c + FN_c)``; NaN when the denominator is 0 (the class is neither
  in the targets nor in the predictions of the whole split).
- ``mIoU`` = mean of the non-NaN ``IoU_c`` over the classes not in ``global_ignore_index``
  (NaN if there is none). ``cityscapesscripts`` averages the same way (``getScoreAverage``).
- Also reported: ``Acc_c = TP_c / (TP_c + FN_c)`` and ``aAcc = sum TP / sum (TP + FN)`` over the
  same classes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from hat.metrics.metric import EvalMetric
from hat.registry import OBJECT_REGISTRY

__all__ = ["MeanIOU", "iou_from_confusion"]

logger = logging.getLogger(__name__)


def iou_from_confusion(confusion: torch.Tensor) -> torch.Tensor:
    """Per-class IoU (float64, NaN for empty classes) of a ``(C, C[+1])`` confusion matrix."""
    cm = confusion.to(torch.float64)
    c = cm.shape[0]
    tp = torch.diagonal(cm[:, :c])
    fn = cm.sum(dim=1) - tp
    fp = cm[:, :c].sum(dim=0) - tp
    denom = tp + fp + fn
    return torch.where(denom > 0, tp / denom.clamp_min(1), torch.full_like(tp, float("nan")))


def _first(x: Any, what: str) -> torch.Tensor:
    """A tensor, the first element of a list/tuple, or ``"preds"``/``"gt_seg"`` of a dict."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, dict):
        for key in ("preds", "pred", "seg", "gt_seg", "target"):
            if key in x:
                return _first(x[key], what)
        raise KeyError(f"MeanIOU: no segmentation in the {what} dict with keys {sorted(x)}")
    if isinstance(x, (list, tuple)) and x:
        return _first(x[0], what)
    raise TypeError(f"MeanIOU: cannot find the {what} tensor in {type(x).__name__}")


@OBJECT_REGISTRY.register
class MeanIOU(EvalMetric):
    """mIoU over a whole split from a global confusion matrix (see the module docstring).

    Args:
        seg_class: the class names, in id order (e.g. ``CITYSCAPES_CLASSES``).
        name: the metric name (also what checkpoints monitor).
        ignore_index: target value of pixels that are not evaluated.
        global_ignore_index: class id(s) left out of the mean (HAT's argument; the default 255
            leaves out nothing).
        log_per_class: log the per-class table (:meth:`table`) whenever the value is computed.

    ``update(target, preds)``:

    - ``target``: ``(B, H, W)`` or ``(B, 1, H, W)`` class ids, ``ignore_index`` ignored; or a
      one-hot ``(B, C, H, W)`` float tensor (all-zero pixels ignored). A list: its first item.
    - ``preds``: logits/scores ``(B, C, H, W)`` (argmax over C) or ids ``(B, H, W)`` /
      ``(B, 1, H, W)``; a list/tuple: its first item. Predictions of another size are resized
      to the target's with nearest neighbour (after the argmax).

    The state (an int64 ``(C, C + 1)`` matrix) is summed over DDP ranks by :meth:`get`.
    """

    def __init__(
        self,
        seg_class: Sequence[str],
        name: str = "mIoU",
        ignore_index: int = 255,
        global_ignore_index: int | Sequence[int] = 255,
        log_per_class: bool = True,
    ) -> None:
        super().__init__(name)
        self.seg_class = [str(c) for c in seg_class]
        self.num_classes = len(self.seg_class)
        if self.num_classes == 0:
            raise ValueError("MeanIOU: seg_class is empty")
        self.ignore_index = int(ignore_index)
        ignored = (
            [global_ignore_index]
            if isinstance(global_ignore_index, int)
            else list(global_ignore_index)
        )
        self.eval_classes = [c for c in range(self.num_classes) if c not in set(ignored)]
        self.log_per_class = log_per_class
        c = self.num_classes
        self.add_state("confusion", torch.zeros((c, c + 1), dtype=torch.int64))

    def _target_ids(self, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 4 and target.shape[1] == 1:
            target = target[:, 0]
        elif target.dim() == 4:
            if target.shape[1] != self.num_classes:
                raise ValueError(
                    f"MeanIOU: target {tuple(target.shape)} is neither (B, H, W), (B, 1, H, W) "
                    f"nor one-hot (B, {self.num_classes}, H, W)"
                )
            ignored = target.sum(dim=1) == 0
            ids = target.argmax(dim=1)
            target = torch.where(ignored, torch.full_like(ids, self.ignore_index), ids)
        elif target.dim() == 2:
            target = target[None]
        if target.dim() != 3:
            raise ValueError(f"MeanIOU: unsupported target shape {tuple(target.shape)}")
        return target.long()

    def _pred_ids(self, preds: torch.Tensor, batch: int) -> torch.Tensor:
        if preds.dim() == 4 and preds.shape[1] == 1:
            preds = preds[:, 0]
        elif preds.dim() == 4:
            preds = preds.argmax(dim=1)
        elif preds.dim() == 2:
            preds = preds[None]
        elif preds.dim() == 3 and preds.shape[0] != batch and preds.shape[0] == self.num_classes:
            preds = preds.argmax(dim=0, keepdim=True)  # one sample's (C, H, W) scores
        if preds.dim() != 3:
            raise ValueError(f"MeanIOU: unsupported preds shape {tuple(preds.shape)}")
        return preds.long()

    @torch.no_grad()
    def update(self, target: Any, preds: Any) -> None:
        gt = self._target_ids(_first(target, "target").detach())
        pred = self._pred_ids(_first(preds, "preds").detach(), gt.shape[0]).to(gt.device)
        if pred.shape[0] != gt.shape[0]:
            raise ValueError(
                f"MeanIOU: batch sizes differ: target {tuple(gt.shape)}, preds {tuple(pred.shape)}"
            )
        if pred.shape[-2:] != gt.shape[-2:]:
            pred = F.interpolate(pred[:, None].float(), size=gt.shape[-2:], mode="nearest-exact")
            pred = pred[:, 0].long()
        c = self.num_classes
        valid = (gt >= 0) & (gt < c) & (gt != self.ignore_index)
        t = gt[valid]
        p = pred[valid]
        p = torch.where((p >= 0) & (p < c), p, c)
        counts = torch.bincount(t * (c + 1) + p, minlength=c * (c + 1)).view(c, c + 1)
        self.confusion = self.confusion.to(counts.device) + counts

    def _scores(self, confusion: torch.Tensor) -> dict[str, Any]:
        cm = confusion.to(torch.float64).cpu()
        c = self.num_classes
        iou = iou_from_confusion(cm)
        tp = torch.diagonal(cm[:, :c])
        total = cm.sum(dim=1)
        acc = torch.where(total > 0, tp / total.clamp_min(1), torch.full_like(tp, float("nan")))
        sel = torch.tensor(self.eval_classes, dtype=torch.long)
        miou = _nanmean(iou[sel])
        macc = _nanmean(acc[sel])
        all_total = float(total[sel].sum())
        aacc = float(tp[sel].sum()) / all_total if all_total > 0 else float("nan")
        return {"mIoU": miou, "mAcc": macc, "aAcc": aacc, "iou": iou.tolist(), "acc": acc.tolist()}

    def compute(self) -> float:
        scores = self._scores(self.confusion)
        if self.log_per_class:
            logger.info("\n%s", self._format(scores))
        return scores["mIoU"]

    def per_class_iou(self) -> dict[str, float]:
        """``{class name: IoU}`` over all ranks (NaN for classes absent from the split)."""
        scores = self._scores(self._synced_states()["confusion"])
        return dict(zip(self.seg_class, scores["iou"]))

    def summary(self) -> dict[str, Any]:
        """mIoU, mAcc, aAcc and per-class ``iou`` / ``acc`` lists, over all ranks."""
        return self._scores(self._synced_states()["confusion"])

    def table(self) -> str:
        """A per-class table (IoU and accuracy in %) for logs, over all ranks."""
        return self._format(self.summary())

    def _format(self, s: dict[str, Any]) -> str:
        pct = lambda v: "nan" if math.isnan(v) else f"{100 * v:.2f}"  # noqa: E731
        width = max([15] + [len(n) + 1 for n in self.seg_class])
        lines = [
            f"~~~~ {self.name} summary ~~~~",
            f"{'mIoU':>10} {'mAcc':>10} {'aAcc':>10}",
            f"{pct(s['mIoU']):>10} {pct(s['mAcc']):>10} {pct(s['aAcc']):>10}",
            f"{'class':<{width}} {'IoU':>8} {'Acc':>8}",
        ]
        for i, cls in enumerate(self.seg_class):
            mark = "" if i in self.eval_classes else "  (not in mean)"
            lines.append(f"{cls:<{width}} {pct(s['iou'][i]):>8} {pct(s['acc'][i]):>8}{mark}")
        return "\n".join(lines)


def _nanmean(x: torch.Tensor) -> float:
    keep = x[~torch.isnan(x)]
    return float(keep.mean()) if keep.numel() else float("nan")
