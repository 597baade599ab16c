"""CenterPoint targets: gaussian radius and drawing, box codes, target -> decoder round trip."""

from __future__ import annotations

import math

import pytest
import torch
from centerpoint_cases import MIN_RADIUS, NMS_THRESHOLD, NMS_TYPE, TASKS, seed_target

from hat.data.readers.nuscenes_constants import DETECTION_CLASSES
from hat.models.task_modules.centerpoint import (
    CenterPoint3dDecoder,
    CenterPoint3dTarget,
    draw_heatmap_gaussian,
    gaussian_radius,
)
from hat.registry import build_from_registry

BEV_SIZE = (51.2, 51.2, 0.8)
CLS = {c: i for i, c in enumerate(DETECTION_CLASSES)}


def _target(**kw) -> CenterPoint3dTarget:
    cfg = seed_target(BEV_SIZE)
    cfg.update(kw)
    return CenterPoint3dTarget(**{k: v for k, v in cfg.items() if k != "type"})


def _decoder(**kw) -> CenterPoint3dDecoder:
    cfg = dict(
        type="CenterPoint3dDecoder",
        class_names=DETECTION_CLASSES,
        tasks=TASKS,
        bev_size=BEV_SIZE,
        out_size_factor=1,
        use_max_pool=True,
        max_pool_kernel=3,
        score_threshold=0.1,
        nms_type=NMS_TYPE,
        min_radius=MIN_RADIUS,
        nms_threshold=NMS_THRESHOLD,
        decode_to_ego=True,
    )
    cfg.update(kw)
    return CenterPoint3dDecoder(**{k: v for k, v in cfg.items() if k != "type"})


def test_registered_under_the_seed_names():
    target = build_from_registry(
        dict(type="CenterPoint3dTarget", class_names=DETECTION_CLASSES, tasks=TASKS)
    )
    assert isinstance(target, CenterPoint3dTarget) and len(target.tasks) == 6
    decoder = build_from_registry(
        dict(type="CenterPoint3dDecoder", class_names=DETECTION_CLASSES, tasks=TASKS)
    )
    assert isinstance(decoder, CenterPoint3dDecoder)


def test_gaussian_radius_hand_values():
    # (h, w) = (4, 2), overlap 0.1: roots 4.5667, 8.6833 and (-1.2 + sqrt(1.44 + 11.52)) / 2 = 1.2
    assert gaussian_radius((4.0, 2.0), 0.1) == pytest.approx(1.2, abs=1e-12)
    # (2, 2), overlap 0.5: third root (-4 + sqrt(32)) / 4 * 2 = 2 sqrt(2) - 2
    assert gaussian_radius((2.0, 2.0), 0.5) == pytest.approx(2 * math.sqrt(2) - 2, abs=1e-12)
    # a 4.6 x 1.9 m car on 0.8 m cells: 1.549 cells, so the recipe's min_radius=2 applies
    assert gaussian_radius((4.6 / 0.8, 1.9 / 0.8), 0.1) == pytest.approx(1.54894, abs=1e-5)
    with pytest.raises(ValueError, match="min_overlap"):
        gaussian_radius((2.0, 2.0), 1.5)


def test_draw_heatmap_gaussian_values_and_clipping():
    hm = torch.zeros(6, 8)
    draw_heatmap_gaussian(hm, (1, 4), 2)  # x = col 1, y = row 4
    sigma = 5 / 6
    assert hm[4, 1] == 1.0
    assert hm[4, 2].item() == pytest.approx(math.exp(-1 / (2 * sigma**2)), rel=1e-6)
    assert hm[2, 3].item() == pytest.approx(math.exp(-8 / (2 * sigma**2)), rel=1e-6)
    assert hm[4, 4] == 0.0 and hm[1, 1] == 0.0  # outside the 5x5 window
    assert (hm[:, :4] > 0).sum() == 4 * 4  # clipped at the left border (cols 0..3, rows 2..5)
    # a second, weaker gaussian keeps the maximum
    draw_heatmap_gaussian(hm, (2, 4), 2)
    assert hm[4, 1] == 1.0 and hm[4, 2] == 1.0


def _gt():
    """Boxes of every task, several rotations and velocities; one outside the grid."""
    rows = [
        ("car", [10.3, -5.1, -0.8, 1.9, 4.6, 1.7, 0.3, 4.0, -1.0]),
        ("car", [-20.7, 30.2, -0.5, 2.0, 4.4, 1.6, -2.9, 0.0, 0.0]),
        ("truck", [0.9, 20.4, 0.2, 2.5, 7.0, 3.0, 1.57, -2.0, 6.5]),
        ("construction_vehicle", [-35.2, -30.1, 0.0, 2.8, 6.0, 3.1, 3.1, 0.0, 0.0]),
        ("bus", [30.4, 40.9, 0.5, 2.9, 11.0, 3.4, -1.2, 8.0, 1.0]),
        ("trailer", [-45.6, 2.2, 0.4, 2.6, 12.0, 3.8, 0.05, 0.5, 0.1]),
        ("barrier", [5.5, 5.5, -0.6, 2.4, 0.5, 1.0, 2.2, 0.0, 0.0]),
        ("barrier", [8.6, 5.5, -0.6, 2.4, 0.5, 1.0, 2.2, 0.0, 0.0]),
        ("motorcycle", [-3.3, -12.7, -0.3, 0.8, 2.1, 1.5, -0.7, 3.0, -3.0]),
        ("bicycle", [-6.1, -12.1, -0.3, 0.6, 1.7, 1.3, 2.5, -1.0, 1.5]),
        ("pedestrian", [2.2, -2.9, -0.2, 0.7, 0.7, 1.8, 1.0, 1.2, 0.4]),
        ("traffic_cone", [12.8, 12.1, -0.7, 0.4, 0.4, 1.0, 0.0, 0.0, 0.0]),
        ("car", [60.0, 0.0, 0.0, 1.9, 4.6, 1.7, 0.0, 0.0, 0.0]),  # outside +-51.2 m
    ]
    boxes = torch.tensor([r[1] for r in rows], dtype=torch.float32)
    labels = torch.tensor([CLS[r[0]] for r in rows], dtype=torch.int64)
    return boxes, labels


def _perfect_head_out(heatmaps, anno_boxes, inds, masks):
    """Head outputs that decode to the targets: logits of the gaussian heatmaps, codes at the
    box cells."""
    outs = []
    b, _, h, w = heatmaps[0].shape
    for t, hm in enumerate(heatmaps):
        maps = torch.zeros(b, 10, h * w)
        for i in range(b):
            m = masks[i, t].bool()
            maps[i][:, inds[i, t][m]] = anno_boxes[i, t][m].T
        maps = maps.reshape(b, 10, h, w)
        outs.append(
            dict(
                heatmap=torch.logit(hm.clamp(1e-4, 1 - 1e-4)),
                reg=maps[:, 0:2],
                height=maps[:, 2:3],
                dim=maps[:, 3:6],
                rot=maps[:, 6:8],
                vel=maps[:, 8:10],
            )
        )
    return outs


def test_target_codes_of_one_box():
    boxes = torch.tensor([[10.3, -5.1, -0.8, 1.9, 4.6, 1.7, 0.3, 4.0, -1.0]])
    heatmaps, anno, inds, masks = _target()([boxes], [torch.tensor([CLS["car"]])], (128, 128))
    assert [tuple(h.shape) for h in heatmaps] == [
        (1, 1, 128, 128),
        (1, 2, 128, 128),
        (1, 2, 128, 128),
        (1, 1, 128, 128),
        (1, 2, 128, 128),
        (1, 2, 128, 128),
    ]
    assert anno.shape == (1, 6, 500, 10) and inds.shape == masks.shape == (1, 6, 500)
    cx, cy = (10.3 + 51.2) / 0.8, (-5.1 + 51.2) / 0.8  # 76.875, 57.625
    assert masks.sum() == 1 and masks[0, 0, 0] == 1
    assert inds[0, 0, 0] == 57 * 128 + 76
    expect = [cx - 76, cy - 57, -0.8, math.log(1.9), math.log(4.6), math.log(1.7)]
    expect += [math.sin(0.3), math.cos(0.3), 4.0, -1.0]
    assert torch.allclose(anno[0, 0, 0], torch.tensor(expect), atol=1e-5)
    hm = heatmaps[0][0, 0]
    assert hm[57, 76] == 1.0 and hm.max() == 1.0
    assert (hm > 0).sum() == 25  # radius max(2, int(1.549)) = 2: a 5x5 gaussian
    assert sum(h.sum() for h in heatmaps[1:]) == 0
    weights = _target().box_weights(anno, masks)
    assert weights[0, 0, 0].tolist() == pytest.approx([1.0] * 8 + [0.2, 0.2])
    assert weights.sum().item() == pytest.approx(8.4)


def test_target_to_decoder_round_trip():
    boxes, labels = _gt()
    target = _target()
    heatmaps, anno, inds, masks = target([boxes, boxes[:6]], [labels, labels[:6]], (128, 128))
    assert masks[0].sum() == 12 and masks[1].sum() == 6  # the box outside the grid is dropped
    preds = _decoder()(_perfect_head_out(heatmaps, anno, inds, masks))
    assert len(preds) == 2
    for pred, n in zip(preds, (12, 6)):
        assert set(pred) == {"bboxes", "scores", "labels"}
        assert pred["bboxes"].shape == (n, 9) and pred["labels"].dtype == torch.int64
        assert torch.all(pred["scores"] > 0.99)
        got = pred["bboxes"][torch.argsort(pred["bboxes"][:, 0])]
        ref_order = torch.argsort(boxes[:n, 0])
        ref = boxes[:n][ref_order]
        assert torch.equal(
            pred["labels"][torch.argsort(pred["bboxes"][:, 0])], labels[:n][ref_order]
        )
        # the cell offsets carry the sub-cell position, so only float rounding remains
        # (a cell is 0.8 m)
        assert torch.allclose(
            got[:, [0, 1, 2, 3, 4, 5, 7, 8]], ref[:, [0, 1, 2, 3, 4, 5, 7, 8]], atol=1e-4
        )
        dyaw = torch.remainder(got[:, 6] - ref[:, 6] + math.pi, 2 * math.pi) - math.pi
        assert dyaw.abs().max() < 1e-5


def test_decoder_threshold_max_pool_and_post_max_size():
    boxes, labels = _gt()
    target = _target()
    heatmaps, anno, inds, masks = target([boxes], [labels], (128, 128))
    outs = _perfect_head_out(heatmaps, anno, inds, masks)
    # without peak picking every gaussian cell above the threshold becomes a box; the
    # rotate NMS then keeps one box per car but post_max_size caps each task
    many = _decoder(use_max_pool=False, nms_type=None, post_max_size=1000)(outs)[0]
    assert len(many["scores"]) > 100
    capped = _decoder(post_max_size=1)(outs)[0]
    assert len(capped["scores"]) == 6  # one per task
    strict = _decoder(score_threshold=0.99995)(outs)[0]
    assert len(strict["scores"]) == 0  # the peaks are sigmoid(logit(1 - 1e-4))


def test_target_and_decoder_errors():
    with pytest.raises(ValueError, match="classes \\['lorry'\\] are not in class_names"):
        _target(tasks=[dict(name="x", num_class=1, class_names=["lorry"])])
    with pytest.raises(ValueError, match="num_class=2 but class_names has 1"):
        _target(tasks=[dict(name="x", num_class=2, class_names=["car"])])
    with pytest.raises(ValueError, match="expected \\(H, W\\) = \\(128, 128\\)"):
        _target()([torch.zeros(0, 9)], [torch.zeros(0, dtype=torch.int64)], (64, 64))
    with pytest.raises(ValueError, match="gt_labels value 12"):
        _target()([torch.ones(1, 9)], [torch.tensor([12])], (128, 128))
    with pytest.raises(ValueError, match="nms_type has 2 entries for 6 tasks"):
        _decoder(nms_type=["rotate", "circle"])
    with pytest.raises(ValueError, match="nms_type entries must be one of"):
        _decoder(nms_type="box")


def test_decoded_perfect_outputs_score_full_map_in_nuscenes_metric():
    from hat.metrics.nuscenes.metric import NuscenesMetric, default_attributes

    boxes, labels = _gt()
    boxes, labels = boxes[:12].clone(), labels[:12]
    boxes[:, :2] *= 0.5  # all within 30 m: inside every class's evaluation range
    assert sorted(set(labels.tolist())) == list(range(10))  # every class has ground truth
    heatmaps, anno, inds, masks = _target()([boxes], [labels], (128, 128))
    preds = _decoder()(_perfect_head_out(heatmaps, anno, inds, masks))
    ego2global = torch.eye(4, dtype=torch.float64)
    ego2global[:3, 3] = torch.tensor([400.0, 1100.0, 0.0])
    names = [DETECTION_CLASSES[k] for k in labels.tolist()]
    speed = torch.hypot(boxes[:, 7], boxes[:, 8]).numpy()
    batch = {
        "sample_token": ["s0"],
        "ego2global": [ego2global],
        "gt_boxes_global": [boxes.double() + torch.tensor([400.0, 1100.0] + [0.0] * 7)],
        "gt_labels": [labels],
        "gt_attributes": [default_attributes(names, speed)],
        "gt_num_lidar_pts": [torch.full((len(boxes),), 10)],
        "gt_num_radar_pts": [torch.zeros(len(boxes), dtype=torch.int64)],
    }
    metric = NuscenesMetric(log_per_class=False)
    metric.update(batch, preds)
    results = metric.results()
    assert results.mean_ap == pytest.approx(1.0)
    errors = results.tp_errors
    assert errors["trans_err"] < 1e-3 and errors["scale_err"] < 1e-3 and errors["vel_err"] < 1e-3


def test_unknown_velocity_has_no_weight_and_grid_cell_decoding():
    boxes = torch.tensor([[10.3, -5.1, -0.8, 1.9, 4.6, 1.7, 0.3, float("nan"), float("nan")]])
    target = _target()
    heatmaps, anno, inds, masks = target([boxes], [torch.tensor([CLS["car"]])], (128, 128))
    weights = target.box_weights(anno, masks)
    assert weights[0, 0, 0].tolist() == pytest.approx([1.0] * 8 + [0.0, 0.0])
    assert torch.isnan(anno[0, 0, 0, 8:]).all() and torch.isfinite(anno[0, 0, 0, :8]).all()
    # decode_to_ego=False keeps x, y in heatmap cells (column, row)
    outs = _perfect_head_out(heatmaps, torch.nan_to_num(anno), inds, masks)
    pred = _decoder(decode_to_ego=False)(outs)[0]
    assert pred["bboxes"][0, :2].tolist() == pytest.approx([76.875, 57.625], abs=1e-4)
    assert pred["labels"].tolist() == [CLS["car"]]
