"""MotrPostProcess: normalised boxes to pixels, filtering by id, score and area, and the
MOTChallenge rows it writes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hat.metrics.mot.io import read_results, write_results
from hat.models.task_modules.motr.post_process import MotrPostProcess, format_mot_rows, mot_rows
from hat.models.task_modules.motr.track_instances import TrackInstances, empty_track_instances
from hat.registry import build_from_registry

H, W = 200, 400


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _frame(rows) -> TrackInstances:
    """Queries from ``(obj_idx, score, (cx, cy, w, h))`` rows (one class)."""
    n = len(rows)
    t = empty_track_instances(torch.zeros(n, 8), torch.zeros(n, 2), 1)
    t.obj_idxes = torch.tensor([r[0] for r in rows], dtype=torch.long)
    t.pred_logits = torch.tensor([[_logit(r[1])] for r in rows])
    t.scores = torch.tensor([r[1] for r in rows])
    t.pred_boxes = torch.tensor([r[2] for r in rows], dtype=torch.float)
    return t


BIG = (0.5, 0.25, 0.2, 0.1)  # 80 x 20 px at (160, 40)


def test_box_to_pixels():
    out = MotrPostProcess()(_frame([(3, 0.8, BIG)]), (H, W))
    torch.testing.assert_close(out["boxes"], torch.tensor([[160.0, 40.0, 240.0, 60.0]]))
    torch.testing.assert_close(out["scores"], torch.tensor([0.8]))
    assert out["track_ids"].tolist() == [3] and out["track_ids"].dtype == torch.long
    assert out["labels"].tolist() == [0] and out["labels"].dtype == torch.long


def test_filters_by_id_score_and_area():
    small = (0.5, 0.5, 0.02, 0.06)  # 8 x 12 = 96 px
    just_big = (0.5, 0.5, 0.026, 0.05)  # 10.4 x 10 = 104 px
    rows = [
        (0, 0.9, BIG),  # kept
        (-1, 0.95, BIG),  # no id
        (1, 0.65, BIG),  # score too low
        (2, 0.9, small),  # too small
        (4, 0.75, just_big),  # kept
        (5, 0.71, BIG),  # kept
    ]
    out = MotrPostProcess()(_frame(rows), torch.tensor([H, W]))
    assert out["track_ids"].tolist() == [0, 4, 5]
    assert out["boxes"].shape == (3, 4) and out["scores"].shape == (3,)
    out = MotrPostProcess(score_threshold=0.5, area_threshold=50)(_frame(rows), (H, W))
    assert out["track_ids"].tolist() == [0, 1, 2, 4, 5]


def test_scores_and_labels_come_from_the_class_logits():
    t = _frame([(0, 0.9, BIG), (1, 0.9, BIG)])
    t.pred_logits = torch.tensor([[_logit(0.2), _logit(0.85)], [_logit(0.3), _logit(0.6)]])
    out = MotrPostProcess()(t, (H, W))
    assert out["track_ids"].tolist() == [0] and out["labels"].tolist() == [1]
    torch.testing.assert_close(out["scores"], torch.tensor([0.85]))


def test_empty_frame():
    out = MotrPostProcess()(_frame([(-1, 0.1, BIG)]), (H, W))
    assert out["boxes"].shape == (0, 4) and out["track_ids"].shape == (0,)
    assert format_mot_rows(out, frame=1) == ""


def test_mot_rows_format_and_round_trip(tmp_path):
    post = MotrPostProcess()
    text = ""
    frame_rows = [
        [(7, 0.9, BIG), (2, 0.8, (0.25, 0.5, 0.1, 0.2))],
        [(2, 0.75, (0.25, 0.5, 0.1, 0.2))],
    ]
    for frame, rows in enumerate(frame_rows, start=1):
        text += format_mot_rows(post(_frame(rows), (H, W)), frame)
    assert text.splitlines() == [
        "1,2,80.00,80.00,40.00,40.00,0.8,-1,-1,-1",
        "1,7,160.00,40.00,80.00,20.00,0.9,-1,-1,-1",
        "2,2,80.00,80.00,40.00,40.00,0.75,-1,-1,-1",
    ]
    path = tmp_path / "seq.txt"
    write_results(path, text)
    table = read_results(path)
    assert table.frames.tolist() == [1, 1, 2] and table.ids.tolist() == [2, 7, 2]
    np.testing.assert_allclose(table.boxes[1], [160.0, 40.0, 80.0, 20.0])
    np.testing.assert_allclose(table.conf, [0.8, 0.9, 0.75], rtol=1e-6)


def test_mot_rows_id_offset_and_frame_check():
    out = MotrPostProcess()(_frame([(0, 0.9, BIG)]), (H, W))
    frames, ids, ltwh, scores = mot_rows(out, frame=4, id_offset=1)
    assert frames.tolist() == [4] and ids.tolist() == [1]
    np.testing.assert_allclose(ltwh, [[160.0, 40.0, 80.0, 20.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="from 1"):
        mot_rows(out, frame=0)


def test_built_from_config():
    post = build_from_registry(dict(type="MotrPostProcess", area_threshold=0))
    assert isinstance(post, MotrPostProcess)
    assert post.score_threshold == 0.7 and post.area_threshold == 0.0
