"""Rotated BEV IoU (against shapely polygons and closed forms), rotate NMS and circle NMS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from shapely.geometry import Polygon

from hat.models.task_modules.centerpoint import circle_nms, rotate_nms, rotated_iou_pairs
from hat.models.task_modules.centerpoint.rotated_iou import bev_box_corners


def _box(x, y, w, l, yaw):  # noqa: E741 - the box convention's name
    return [x, y, 0.0, w, l, 1.5, yaw, 0.0, 0.0]


def test_rotated_iou_closed_forms():
    a = torch.tensor([[0.0, 0.0, 2.0, 4.0, 0.0]] * 4, dtype=torch.float64)
    b = torch.tensor(
        [
            [0.0, 0.0, 2.0, 4.0, math.pi],  # same box, heading flipped
            [0.0, 0.0, 2.0, 4.0, math.pi / 2],  # crossed: overlap 2 x 2 -> 4 / 12
            [1.0, 0.0, 2.0, 4.0, 0.0],  # shifted 1 m along the heading: 6 / 10
            [4.0, 0.0, 2.0, 4.0, 0.0],  # touching end to end
        ],
        dtype=torch.float64,
    )
    iou = rotated_iou_pairs(a, b)
    assert iou.tolist() == pytest.approx([1.0, 1 / 3, 0.6, 0.0], abs=1e-12)
    # a square turned by 45 deg inside a larger square: the whole small square's area
    big = torch.tensor([[0.0, 0.0, 4.0, 4.0, 0.0]], dtype=torch.float64)
    small = torch.tensor([[0.0, 0.0, 2.0, 2.0, math.pi / 4]], dtype=torch.float64)
    assert rotated_iou_pairs(big, small).item() == pytest.approx(4 / 16, abs=1e-12)


def test_rotated_iou_matches_shapely_on_random_boxes():
    g = torch.Generator().manual_seed(0)
    n = 400

    def rand_boxes():
        return torch.cat(
            [
                torch.rand(n, 2, generator=g) * 4,
                torch.rand(n, 2, generator=g) * 3 + 0.3,
                (torch.rand(n, 1, generator=g) - 0.5) * 7,
            ],
            dim=1,
        ).double()

    a, b = rand_boxes(), rand_boxes()
    b[:40] = a[:40]
    iou = rotated_iou_pairs(a, b).numpy()
    ca, cb = bev_box_corners(a).numpy(), bev_box_corners(b).numpy()
    ref = []
    for pa, pb in zip(ca, cb):
        pa, pb = Polygon(pa), Polygon(pb)
        ref.append(pa.intersection(pb).area / pa.union(pb).area)
    ref = np.array(ref)
    assert 0.3 < (ref > 0).mean() < 0.9  # both overlapping and disjoint pairs
    np.testing.assert_allclose(iou, ref, atol=1e-9)


def test_rotate_nms_drops_a_rotated_duplicate_and_keeps_distinct_boxes():
    boxes = torch.tensor(
        [
            _box(10.0, 10.0, 2.0, 4.6, 0.7),  # 0.90
            _box(10.0, 10.0, 2.0, 4.0, 0.7 + math.pi / 2),  # 0.85: crossed, IoU ~ 0.31
            _box(10.2, 10.1, 2.0, 4.6, 0.8),  # 0.80: near duplicate of box 0
            _box(-5.0, 3.0, 2.0, 4.6, -1.0),  # 0.70: far away
            _box(12.5, 11.7, 2.0, 4.6, 0.7),  # 0.60: IoU 0.17 with box 0
        ]
    )
    scores = torch.tensor([0.9, 0.85, 0.8, 0.7, 0.6])
    bev = boxes[:, [0, 1, 3, 4, 6]].double()
    assert rotated_iou_pairs(bev[[0]], bev[[2]]).item() > 0.7
    assert 0.2 < rotated_iou_pairs(bev[[0]], bev[[1]]).item() < 0.5
    assert 0.1 < rotated_iou_pairs(bev[[0]], bev[[4]]).item() < 0.2
    assert rotate_nms(boxes, scores, 0.5).tolist() == [0, 1, 3, 4]
    assert rotate_nms(boxes, scores, 0.2).tolist() == [0, 3, 4]
    assert rotate_nms(boxes, scores, 0.2, post_max_size=2).tolist() == [0, 3]
    # the order follows the scores, not the input order
    perm = torch.tensor([4, 2, 0, 3, 1])
    assert perm[rotate_nms(boxes[perm], scores[perm], 0.2)].tolist() == [0, 3, 4]
    assert rotate_nms(torch.zeros(0, 9), torch.zeros(0), 0.2).tolist() == []


def test_circle_nms_uses_squared_centre_distance():
    boxes = torch.tensor(
        [_box(0.0, 0.0, 1, 1, 0), _box(0.3, 0.3, 1, 1, 0), _box(1.0, 0.0, 1, 1, 0)]
        + [_box(3.0, 0.0, 1, 1, 0)]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # squared distances to box 0: 0.18, 1.0, 9.0
    assert circle_nms(boxes, scores, 0.175).tolist() == [0, 1, 2, 3]
    assert circle_nms(boxes, scores, 0.2).tolist() == [0, 2, 3]
    assert circle_nms(boxes, scores, 1.0).tolist() == [0, 3]
    assert circle_nms(boxes, scores, 1.0, post_max_size=1).tolist() == [0]
    # a suppressed box suppresses nothing: 1 is dropped by 0, so 2 (0.49 from 1) stays
    chain = torch.tensor([_box(0.0, 0, 1, 1, 0), _box(0.6, 0, 1, 1, 0), _box(1.3, 0, 1, 1, 0)])
    assert circle_nms(chain, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
    with pytest.raises(ValueError, match="circle_nms expects boxes"):
        circle_nms(boxes, scores[:2], 1.0)
