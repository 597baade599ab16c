"""Rotate and circle NMS (and the decoder using them) equal a plain greedy NMS reference that
computes every pair's IoU / squared centre distance, on random boxes with many overlaps."""

from __future__ import annotations

import pytest
import torch
from centerpoint_cases import MIN_RADIUS, NMS_THRESHOLD, NMS_TYPE, TASKS

from hat.models.task_modules.centerpoint import (
    CenterPoint3dDecoder,
    circle_nms,
    rotate_nms,
    rotated_iou_pairs,
)

DETECTION_CLASSES = [c for t in TASKS for c in t["class_names"]]


def _reference_greedy(suppress: torch.Tensor, post_max_size: int | None) -> list[int]:
    """Greedy NMS over boxes sorted by descending score: ``suppress[i, j]`` (i < j) when a kept
    ``i`` drops ``j``."""
    keep: list[int] = []
    dropped = [False] * len(suppress)
    for i in range(len(suppress)):
        if dropped[i]:
            continue
        keep.append(i)
        if post_max_size is not None and len(keep) >= post_max_size:
            break
        for j in range(i + 1, len(suppress)):
            dropped[j] = dropped[j] or bool(suppress[i, j])
    return keep


def _reference_rotate_nms(boxes, scores, iou_threshold, post_max_size=None) -> list[int]:
    order = torch.argsort(scores, descending=True, stable=True)
    bev = boxes.double()[order][:, [0, 1, 3, 4, 6]]
    n = len(bev)
    i, j = torch.triu_indices(n, n, offset=1)
    iou = torch.zeros(n, n, dtype=torch.float64)
    iou[i, j] = rotated_iou_pairs(bev[i], bev[j])  # every pair, no circle prefilter
    return order[_reference_greedy(iou > iou_threshold, post_max_size)].tolist()


def _reference_circle_nms(boxes, scores, min_radius, post_max_size=None) -> list[int]:
    order = torch.argsort(scores, descending=True, stable=True)
    xy = boxes.double()[order][:, :2]
    d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    return order[_reference_greedy(d2 <= min_radius, post_max_size)].tolist()


def _random_boxes(g: torch.Generator, n: int, span: float, max_size: float) -> torch.Tensor:
    boxes = torch.zeros(n, 9)
    boxes[:, :2] = torch.rand(n, 2, generator=g) * span
    boxes[:, 3:5] = torch.rand(n, 2, generator=g) * max_size + 0.2
    boxes[:, 6] = (torch.rand(n, generator=g) - 0.5) * 7
    return boxes


@pytest.mark.parametrize("post_max_size", [None, 1, 7, 40])
def test_rotate_and_circle_nms_equal_the_greedy_reference(post_max_size):
    g = torch.Generator().manual_seed(0 if post_max_size is None else post_max_size)
    kept_counts = []
    for n, span, max_size in [(0, 1.0, 1.0), (1, 1.0, 1.0), (120, 30.0, 3.0), (250, 12.0, 5.0)]:
        boxes = _random_boxes(g, n, span, max_size)
        scores = torch.rand(n, generator=g)
        scores[: n // 3] = (scores[: n // 3] * 4).round() / 4  # ties keep the input order
        for thr in (0.05, 0.2, 0.5):
            got = rotate_nms(boxes, scores, thr, post_max_size).tolist()
            assert got == _reference_rotate_nms(boxes, scores, thr, post_max_size)
            kept_counts.append(len(got))
        for radius in (0.175, 1.0, 4.0):
            got = circle_nms(boxes, scores, radius, post_max_size).tolist()
            assert got == _reference_circle_nms(boxes, scores, radius, post_max_size)
            kept_counts.append(len(got))
    # the cases keep some boxes and drop others (dense boxes: most are dropped)
    if post_max_size is None:
        assert max(kept_counts) > 40 and any(1 < c < 120 for c in kept_counts)
    else:
        assert max(kept_counts) == post_max_size


def test_decoder_equals_reference_nms_on_random_head_outputs():
    """An undertrained-like head (random logits, large log sizes): the decoder's per-task
    output is the reference NMS applied to its candidates (the same decoder without NMS)."""
    g = torch.Generator().manual_seed(3)
    b, size = 2, 32
    outs = [
        {
            "heatmap": torch.randn(b, t["num_class"], size, size, generator=g),
            "reg": torch.randn(b, 2, size, size, generator=g),
            "height": torch.randn(b, 1, size, size, generator=g),
            "dim": torch.randn(b, 3, size, size, generator=g) + 1.0,
            "rot": torch.randn(b, 2, size, size, generator=g),
            "vel": torch.randn(b, 2, size, size, generator=g),
        }
        for t in TASKS
    ]
    common = dict(class_names=DETECTION_CLASSES, tasks=TASKS, bev_size=(12.8, 12.8, 0.8))
    post = [83, 83, 83, 83, 83, 20]
    dec = CenterPoint3dDecoder(
        nms_type=NMS_TYPE,
        min_radius=MIN_RADIUS,
        nms_threshold=NMS_THRESHOLD,
        post_max_size=post,
        pre_max_size=300,
        **common,
    )
    raw = CenterPoint3dDecoder(nms_type=None, post_max_size=10**6, pre_max_size=300, **common)
    got, cand = dec(outs), raw(outs)
    offsets = [0]
    for t in TASKS:
        offsets.append(offsets[-1] + t["num_class"])
    suppressed_some = False
    for res, c in zip(got, cand):
        start = 0
        for t in range(len(TASKS)):
            mask = (c["labels"] >= offsets[t]) & (c["labels"] < offsets[t + 1])
            boxes, scores = c["bboxes"][mask], c["scores"][mask]
            if NMS_TYPE[t] == "circle":
                keep = _reference_circle_nms(boxes, scores, MIN_RADIUS[t], post[t])
            else:
                keep = _reference_rotate_nms(boxes, scores, NMS_THRESHOLD[t], post[t])
            stop = start + len(keep)
            assert torch.equal(res["bboxes"][start:stop], boxes[keep])
            assert torch.equal(res["scores"][start:stop], scores[keep])
            assert torch.equal(res["labels"][start:stop], c["labels"][mask][keep])
            suppressed_some |= keep != list(range(len(keep)))  # some candidate dropped
            start = stop
        assert start == len(res["scores"])
    assert suppressed_some
