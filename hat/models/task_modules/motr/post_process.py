"""``MotrPostProcess``: MOTR's per-frame tracks as pixel boxes, and as MOTChallenge rows.

Follows MOTR's ``TrackerPostProcess`` (scores and labels from ``sigmoid(pred_logits).max(-1)``,
normalised ``cx, cy, w, h`` boxes scaled to corner boxes in pixels, not clamped) and the
filters of its evaluation script (``score > score_threshold``, ``area > area_threshold``, an id
``>= 0``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hat.metrics.mot.io import format_results
from hat.models.task_modules.motr.box_ops import box_cxcywh_to_xyxy
from hat.models.task_modules.motr.track_instances import TrackInstances
from hat.registry import OBJECT_REGISTRY

__all__ = ["MotrPostProcess", "format_mot_rows", "mot_rows"]


@OBJECT_REGISTRY.register
class MotrPostProcess(nn.Module):
    """The reported tracks of one frame.

    Args:
        score_threshold: a track is reported when its score is strictly above it.
        area_threshold: ... and its pixel box area ``w * h`` is strictly above it.

    ``forward(track_instances, image_size) -> dict`` with ``image_size = (H, W)`` in pixels:
    ``boxes (K, 4)`` float ``x0, y0, x1, y1`` pixels, ``scores (K,)``, ``track_ids (K,)`` long
    (the ``obj_idxes``), ``labels (K,)`` long, in query order.
    """

    def __init__(self, score_threshold: float = 0.7, area_threshold: float = 100.0) -> None:
        super().__init__()
        self.score_threshold = float(score_threshold)
        self.area_threshold = float(area_threshold)

    @torch.no_grad()
    def forward(
        self, track_instances: TrackInstances, image_size: Sequence[int] | torch.Tensor
    ) -> dict[str, torch.Tensor]:
        scores, labels = track_instances.pred_logits.sigmoid().max(dim=-1)
        boxes = box_cxcywh_to_xyxy(track_instances.pred_boxes)
        img_h, img_w = (float(v) for v in image_size)
        scale = boxes.new_tensor([img_w, img_h, img_w, img_h])
        boxes = boxes * scale
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = (
            (track_instances.obj_idxes >= 0)
            & (scores > self.score_threshold)
            & (areas > self.area_threshold)
        )
        return {
            "boxes": boxes[keep],
            "scores": scores[keep],
            "track_ids": track_instances.obj_idxes[keep].long(),
            "labels": labels[keep].long(),
        }

    def extra_repr(self) -> str:
        return f"score_threshold={self.score_threshold}, area_threshold={self.area_threshold}"


def mot_rows(
    result: Mapping[str, torch.Tensor], frame: int, id_offset: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(frames, ids, boxes_ltwh, scores)`` arrays of one frame's ``result`` (from
    :class:`MotrPostProcess`), as :func:`hat.metrics.mot.io.format_results` takes them.

    ``frame`` counts from 1 (MOTChallenge); ids are ``track_ids + id_offset`` (MOTR's submission
    script writes ``id + 1``).
    """
    if frame < 1:
        raise ValueError(f"mot_rows: MOTChallenge frames count from 1, got {frame}")
    boxes = result["boxes"].detach().cpu().double().numpy().reshape(-1, 4)
    ltwh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    ids = result["track_ids"].detach().cpu().numpy().astype(np.int64) + int(id_offset)
    scores = result["scores"].detach().cpu().double().numpy()
    frames = np.full(len(ids), int(frame), dtype=np.int64)
    return frames, ids, ltwh, scores


def format_mot_rows(result: Mapping[str, torch.Tensor], frame: int, id_offset: int = 0) -> str:
    """One frame's MOTChallenge result lines ``frame,id,left,top,width,height,score,-1,-1,-1``
    (sorted by id); concatenate the frames of a sequence in order and write them with
    :func:`hat.metrics.mot.io.write_results`."""
    return format_results(*mot_rows(result, frame, id_offset))
