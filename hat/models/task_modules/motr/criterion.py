"""``MotrCriterion``: MOTR's clip criterion (tracklet-aware label assignment, collective loss)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hat.models.task_modules.motr.box_ops import (
    box_cxcywh_to_xyxy,
    box_iou,
    generalized_box_iou,
)
from hat.models.task_modules.motr.matcher import HungarianMatcher
from hat.models.task_modules.motr.track_instances import TrackInstances
from hat.registry import OBJECT_REGISTRY, build_from_registry

__all__ = ["MotrCriterion", "sigmoid_focal_loss"]

_LOSS_NAMES = ("loss_ce", "loss_bbox", "loss_giou")


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Element-wise sigmoid focal loss (Lin et al. 2017), as Deformable DETR / MOTR use it.

    ``alpha_t * (1 - p_t) ** gamma * BCE(logits, targets)`` with ``p = sigmoid(logits)``,
    ``p_t = p t + (1 - p)(1 - t)``, ``alpha_t = alpha t + (1 - alpha)(1 - t)`` (no ``alpha``
    weighting when ``alpha < 0``). Returns the unreduced loss, shaped like ``logits``.
    """
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t).pow(gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


@OBJECT_REGISTRY.register
class MotrCriterion(nn.Module):
    """MOTR's ``ClipMatcher`` (Zeng et al. 2022): frame-by-frame assignment, clip-level loss.

    Every frame of a clip goes through :meth:`match_frame` (the query interaction module runs
    between frames on the instances it returns); :meth:`clip_losses` then gives the clip's
    losses. Per frame:

    1. *Tracklet-aware assignment*: a query with ``obj_idxes >= 0`` (a track) keeps its identity
       and is assigned the GT of the same identity in this frame; if the identity is absent
       (the object left) it gets ``matched_gt_idxes = -1``, is trained as background and
       counts once in ``num_samples``.
    2. *New objects*: the GTs no track claims are Hungarian-matched (:class:`HungarianMatcher`)
       against the queries with ``obj_idxes == -1`` only (detect queries, untracked slots); a
       matched query takes the GT's identity. Queries with other negative ids (e.g. MOTR's
       ``-2`` false-positive tracks) are never matched and train as background.
    3. ``iou``: IoU of each matched query's box with its GT, ``0`` for every other query
       (training keeps tracks with ``iou > 0.5``).
    4. Losses, summed over the frame: sigmoid focal classification over all ``N`` queries
       (one-hot target for matched queries, all-zero for the others), L1 and ``1 - GIoU`` of
       the matched queries' boxes. Each auxiliary decoder layer gets the same losses, with the
       track assignments of step 1 kept and the new objects re-matched on that layer's
       predictions (keys ``loss_ce_aux{i}``, ...); only the last layer's matching sets ids.
    5. The frame's losses add to the clip totals; ``num_samples`` grows by the number of GTs of
       the frame plus the number of disappeared tracks.

    :meth:`clip_losses` divides every total by ``max(num_samples, 1)`` (the collective average
    loss over the clip) and weights it by its coefficient.

    Args:
        num_classes: C, the channels of ``pred_logits`` (no background channel).
        matcher: a :class:`HungarianMatcher`, or its config: a registry dict with ``type``, or
            the keyword arguments of :class:`HungarianMatcher`. Default ``HungarianMatcher()``.
        cls_loss_coef, bbox_loss_coef, giou_loss_coef: weights of ``loss_ce``, ``loss_bbox``
            and ``loss_giou`` (the auxiliary layers' losses get the same weights).
        focal_alpha, focal_gamma: focal parameters of the classification loss.
        aux_loss: whether to compute the losses of ``outputs["aux_outputs"]``.
    """

    def __init__(
        self,
        num_classes: int = 1,
        matcher: HungarianMatcher | Mapping[str, Any] | None = None,
        cls_loss_coef: float = 2.0,
        bbox_loss_coef: float = 5.0,
        giou_loss_coef: float = 2.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        aux_loss: bool = True,
    ) -> None:
        super().__init__()
        if int(num_classes) <= 0:
            raise ValueError(f"MotrCriterion: num_classes must be > 0, got {num_classes}")
        self.num_classes = int(num_classes)
        self.matcher = _build_matcher(matcher)
        self.coefs = {
            "loss_ce": float(cls_loss_coef),
            "loss_bbox": float(bbox_loss_coef),
            "loss_giou": float(giou_loss_coef),
        }
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)
        self.aux_loss = bool(aux_loss)
        self.init_clip()

    # ----------------------------------------------------------------- clip state

    def init_clip(self) -> None:
        """Start a new clip: clear the accumulated losses and ``num_samples``."""
        self._totals: dict[str, torch.Tensor] = {}
        self._num_samples = 0
        self._num_frames = 0
        self._num_aux_layers: int | None = None

    @property
    def num_samples(self) -> int:
        """GTs plus disappeared tracks seen since :meth:`init_clip` (the loss normaliser)."""
        return self._num_samples

    @property
    def num_frames(self) -> int:
        """Frames matched since :meth:`init_clip`."""
        return self._num_frames

    def clip_losses(self) -> dict[str, torch.Tensor]:
        """``coef * total / max(num_samples, 1)`` for every accumulated loss of the clip.

        Keys ``loss_ce``, ``loss_bbox``, ``loss_giou`` and, with auxiliary layers,
        ``loss_ce_aux{i}``, ``loss_bbox_aux{i}``, ``loss_giou_aux{i}``. Accumulation goes on
        until :meth:`init_clip`; calling this twice gives the same values.
        """
        if self._num_frames == 0:
            raise RuntimeError(
                "MotrCriterion.clip_losses: no frame was matched since init_clip() "
                "(call match_frame() for every frame of the clip first)"
            )
        denom = float(max(self._num_samples, 1))
        return {
            key: total * (self.coefs[key.split("_aux", 1)[0]] / denom)
            for key, total in self._totals.items()
        }

    # ----------------------------------------------------------------- one frame

    def match_frame(
        self,
        outputs: Mapping[str, Any],
        track_instances: TrackInstances,
        gt: Mapping[str, torch.Tensor],
    ) -> TrackInstances:
        """Assign this frame's GTs to the queries and accumulate the frame's losses.

        Args:
            outputs: ``pred_logits (N, C)``, ``pred_boxes (N, 4)`` (normalised cxcywh) of the
                ``N`` queries of ``track_instances`` in order, and with ``aux_loss``
                ``aux_outputs``: a list (possibly empty) of such dicts, one per earlier
                decoder layer. Losses are computed on these tensors (gradients flow to them).
            track_instances: the queries; ``obj_idxes`` is read (``>= 0`` track, ``-1``
                matchable, other negatives never matched).
            gt: ``boxes (M, 4)`` normalised cxcywh, ``labels (M,)`` long in ``[0, C)``,
                ``obj_ids (M,)`` long, distinct, ``>= 0`` identities.

        Returns:
            ``track_instances`` itself, with the fields ``obj_idxes``, ``matched_gt_idxes``
            (long) and ``iou`` (float) replaced by new tensors (on the device of ``obj_idxes``;
            the old tensors are not written to, so views held elsewhere are unchanged). No
            other field is touched.
        """
        self._check_frame(outputs, track_instances, gt)
        logits: torch.Tensor = outputs["pred_logits"]
        boxes: torch.Tensor = outputs["pred_boxes"]
        aux: Sequence[Mapping[str, torch.Tensor]] = (
            list(outputs["aux_outputs"]) if self.aux_loss else []
        )
        if (
            self._num_aux_layers is not None
            and self._num_frames
            and len(aux) != (self._num_aux_layers)
        ):
            raise ValueError(
                f"MotrCriterion: outputs['aux_outputs'] has {len(aux)} layers, earlier frames "
                f"of the clip had {self._num_aux_layers}"
            )
        device = boxes.device
        gt_boxes = gt["boxes"].to(device=device, dtype=torch.float32)
        gt_labels = gt["labels"].to(device).long()
        gt_ids = gt["obj_ids"].to(device).long()
        n, m = len(track_instances), int(gt_ids.shape[0])

        with torch.no_grad():
            obj_idxes = track_instances.obj_idxes.to(device).long().clone()
            # Step 1: tracks follow their identity; absent identity = disappeared (background).
            is_track = obj_idxes >= 0
            matched = torch.full((n,), -1, dtype=torch.long, device=device)
            if m > 0 and n > 0:
                same = obj_idxes[:, None] == gt_ids[None, :]
                present = same.any(dim=1)
                gt_of_query = same.long().argmax(dim=1)
                keep = is_track & present
                matched[keep] = gt_of_query[keep]
            else:
                present = torch.zeros(n, dtype=torch.bool, device=device)
            num_disappeared = int((is_track & ~present).sum())
            track_q = torch.nonzero(is_track & present).flatten()
            track_gt = matched[track_q]

            # Step 2: the GTs no track claims against the matchable (obj_idxes == -1) queries.
            claimed = torch.zeros(m, dtype=torch.bool, device=device)
            claimed[track_gt] = True
            free_gt = torch.nonzero(~claimed).flatten()
            free_q = torch.nonzero(obj_idxes == -1).flatten()
            new_q, new_gt = self._match_new(logits, boxes, free_q, free_gt, gt_labels, gt_boxes)
            obj_idxes[new_q] = gt_ids[new_gt]
            matched[new_q] = new_gt

            # Step 3: IoU of every matched query with its GT.
            iou = torch.zeros(n, dtype=torch.float32, device=device)
            active = torch.nonzero(matched >= 0).flatten()
            if active.numel():
                pred_xyxy = box_cxcywh_to_xyxy(boxes.detach().float()[active])
                gt_xyxy = box_cxcywh_to_xyxy(gt_boxes[matched[active]])
                iou[active] = torch.diagonal(box_iou(pred_xyxy, gt_xyxy)[0])

        # Step 4: losses of the last layer, then of each auxiliary layer.
        q_idx = torch.cat([new_q, track_q])
        g_idx = torch.cat([new_gt, track_gt])
        frame = self._losses(logits, boxes, q_idx, g_idx, gt_labels, gt_boxes)
        for i, layer in enumerate(aux):
            with torch.no_grad():
                lq, lg = self._match_new(
                    layer["pred_logits"], layer["pred_boxes"], free_q, free_gt, gt_labels, gt_boxes
                )
            layer_losses = self._losses(
                layer["pred_logits"],
                layer["pred_boxes"],
                torch.cat([lq, track_q]),
                torch.cat([lg, track_gt]),
                gt_labels,
                gt_boxes,
            )
            frame.update({f"{k}_aux{i}": v for k, v in layer_losses.items()})

        # Step 5: accumulate over the clip.
        for key, value in frame.items():
            self._totals[key] = self._totals[key] + value if key in self._totals else value
        self._num_samples += m + num_disappeared
        self._num_frames += 1
        self._num_aux_layers = len(aux)

        out_device = track_instances.obj_idxes.device
        track_instances.set("obj_idxes", obj_idxes.to(out_device))
        track_instances.set("matched_gt_idxes", matched.to(out_device))
        track_instances.set("iou", iou.to(out_device))
        return track_instances

    def _match_new(
        self,
        logits: torch.Tensor,
        boxes: torch.Tensor,
        free_q: torch.Tensor,
        free_gt: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hungarian matching of the queries ``free_q`` to the GTs ``free_gt``, as frame
        indices ``(query_idx, gt_idx)``."""
        src, tgt = self.matcher(
            logits.detach()[free_q], boxes.detach()[free_q], gt_labels[free_gt], gt_boxes[free_gt]
        )
        return free_q[src.to(free_q.device)], free_gt[tgt.to(free_gt.device)]

    def _losses(
        self,
        logits: torch.Tensor,
        boxes: torch.Tensor,
        q_idx: torch.Tensor,
        g_idx: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Summed (unnormalised) focal, L1 and ``1 - GIoU`` losses of one layer."""
        logits = logits.float()
        target = torch.zeros_like(logits)
        target[q_idx, gt_labels[g_idx]] = 1.0
        loss_ce = sigmoid_focal_loss(logits, target, self.focal_alpha, self.focal_gamma).sum()
        src = boxes.float()[q_idx]
        tgt = gt_boxes[g_idx]
        loss_bbox = F.l1_loss(src, tgt, reduction="sum")
        giou = torch.diagonal(generalized_box_iou(box_cxcywh_to_xyxy(src), box_cxcywh_to_xyxy(tgt)))
        loss_giou = (1 - giou).sum()
        return {"loss_ce": loss_ce, "loss_bbox": loss_bbox, "loss_giou": loss_giou}

    # ----------------------------------------------------------------- checks

    def _check_frame(
        self,
        outputs: Mapping[str, Any],
        track_instances: TrackInstances,
        gt: Mapping[str, torch.Tensor],
    ) -> None:
        if not track_instances.has("obj_idxes"):
            raise ValueError("MotrCriterion: track_instances has no 'obj_idxes' field")
        n = len(track_instances)
        self._check_layer(outputs, n, "outputs")
        if self.aux_loss:
            if "aux_outputs" not in outputs:
                raise ValueError(
                    "MotrCriterion: outputs has no 'aux_outputs' (pass a list, possibly empty, "
                    "or build the criterion with aux_loss=False)"
                )
            for i, layer in enumerate(outputs["aux_outputs"]):
                self._check_layer(layer, n, f"outputs['aux_outputs'][{i}]")
        for key in ("boxes", "labels", "obj_ids"):
            if key not in gt:
                raise ValueError(f"MotrCriterion: gt has no {key!r} (has {sorted(gt)})")
        if gt["obj_ids"].dim() != 1:
            raise ValueError(
                f"MotrCriterion: gt['obj_ids'] must be (M,), got {tuple(gt['obj_ids'].shape)}"
            )
        m = int(gt["obj_ids"].shape[0])
        if gt["labels"].dim() != 1 or gt["labels"].shape[0] != m:
            raise ValueError(
                f"MotrCriterion: gt['labels'] must be ({m},) like gt['obj_ids'], got "
                f"{tuple(gt['labels'].shape)}"
            )
        if gt["boxes"].dim() != 2 or tuple(gt["boxes"].shape) != (m, 4):
            raise ValueError(
                f"MotrCriterion: gt['boxes'] must be ({m}, 4) like gt['obj_ids'], got "
                f"{tuple(gt['boxes'].shape)}"
            )
        if m:
            labels, ids = gt["labels"], gt["obj_ids"]
            if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
                raise ValueError(
                    f"MotrCriterion: gt['labels'] must lie in [0, {self.num_classes}), got "
                    f"{labels.tolist()}"
                )
            if int(ids.min()) < 0:
                raise ValueError(f"MotrCriterion: gt['obj_ids'] must be >= 0, got {ids.tolist()}")
            if torch.unique(ids).numel() != m:
                raise ValueError(
                    f"MotrCriterion: gt['obj_ids'] must be distinct within a frame, got "
                    f"{ids.tolist()}"
                )

    def _check_layer(self, layer: Mapping[str, Any], n: int, where: str) -> None:
        for key in ("pred_logits", "pred_boxes"):
            if key not in layer:
                raise ValueError(f"MotrCriterion: {where} has no {key!r}")
        logits, boxes = layer["pred_logits"], layer["pred_boxes"]
        if logits.dim() != 2 or tuple(logits.shape) != (n, self.num_classes):
            raise ValueError(
                f"MotrCriterion: {where}['pred_logits'] must be ({n}, {self.num_classes}) "
                f"(len(track_instances), num_classes), got {tuple(logits.shape)}"
            )
        if boxes.dim() != 2 or tuple(boxes.shape) != (n, 4):
            raise ValueError(
                f"MotrCriterion: {where}['pred_boxes'] must be ({n}, 4) (len(track_instances)), "
                f"got {tuple(boxes.shape)}"
            )


def _build_matcher(matcher: HungarianMatcher | Mapping[str, Any] | None) -> Any:
    if matcher is None:
        return HungarianMatcher()
    if isinstance(matcher, Mapping):
        if "type" in matcher:
            return build_from_registry(dict(matcher), path="MotrCriterion.matcher")
        return HungarianMatcher(**matcher)
    if not callable(matcher):
        raise ValueError(
            f"MotrCriterion: matcher must be a HungarianMatcher or its config, got {matcher!r}"
        )
    return matcher
