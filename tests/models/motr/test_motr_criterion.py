"""MotrCriterion: tracklet-aware assignment, disappeared tracks, collective average, aux."""

from __future__ import annotations

import math

import pytest
import torch

from hat.models.task_modules.motr.box_ops import box_cxcywh_to_xyxy, generalized_box_iou
from hat.models.task_modules.motr.criterion import MotrCriterion, sigmoid_focal_loss
from hat.models.task_modules.motr.matcher import HungarianMatcher
from hat.models.task_modules.motr.track_instances import TrackInstances
from hat.registry import build_from_registry

LN2 = math.log(2.0)
# Focal loss of a zero logit (p = 0.5), alpha 0.25, gamma 2: target 1 / target 0.
FOCAL_POS = 0.25 * 0.25 * LN2
FOCAL_NEG = 0.75 * 0.25 * LN2


def _instances(obj_idxes: list[int]) -> TrackInstances:
    n = len(obj_idxes)
    return TrackInstances(
        obj_idxes=torch.tensor(obj_idxes, dtype=torch.long),
        matched_gt_idxes=torch.full((n,), -1, dtype=torch.long),
        iou=torch.zeros(n),
    )


def _outputs(boxes: list[list[float]], logits: torch.Tensor | None = None, aux=None) -> dict:
    pred_boxes = torch.tensor(boxes, requires_grad=True)
    if logits is None:
        logits = torch.zeros(len(boxes), 1)
    out = {"pred_logits": logits.clone().requires_grad_(True), "pred_boxes": pred_boxes}
    out["aux_outputs"] = [] if aux is None else aux
    return out


def _gt(boxes: list[list[float]], obj_ids: list[int], labels: list[int] | None = None) -> dict:
    m = len(obj_ids)
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(m, 4),
        "labels": torch.tensor(labels if labels is not None else [0] * m, dtype=torch.long),
        "obj_ids": torch.tensor(obj_ids, dtype=torch.long),
    }


def test_track_keeps_identity_even_if_a_detect_query_is_closer() -> None:
    crit = MotrCriterion()
    gt = _gt([[0.5, 0.5, 0.2, 0.2]], [7])
    # query 0 tracks id 7 but is off; query 1 (detect) sits exactly on the GT.
    out = _outputs([[0.56, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2]])
    inst = _instances([7, -1])
    res = crit.match_frame(out, inst, gt)
    assert res is inst
    assert res.obj_idxes.tolist() == [7, -1]
    assert res.matched_gt_idxes.tolist() == [0, -1]
    # IoU of (0.46..0.66) vs (0.4..0.6) in x, same y: 0.14 / 0.26.
    assert res.iou[0].item() == pytest.approx(0.14 / 0.26, abs=1e-5)
    assert res.iou[1].item() == 0.0
    assert crit.num_samples == 1
    # The closer detect query is background; L1 only of the track: 0.06.
    totals = crit.clip_losses()
    assert totals["loss_bbox"].item() == pytest.approx(5.0 * 0.06, abs=1e-5)
    assert totals["loss_ce"].item() == pytest.approx(2.0 * (FOCAL_POS + FOCAL_NEG), abs=1e-6)


def test_new_object_is_matched_to_a_detect_query() -> None:
    crit = MotrCriterion()
    gt = _gt([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.1, 0.1]], [7, 9])
    out = _outputs(
        [
            [0.3, 0.31, 0.2, 0.2],  # track 7
            [0.1, 0.9, 0.05, 0.05],  # detect, far
            [0.7, 0.69, 0.1, 0.1],  # detect, on the new object 9
            [0.3, 0.3, 0.2, 0.2],  # detect, exactly on 7 (already tracked: not matched)
        ]
    )
    res = crit.match_frame(out, _instances([7, -1, -1, -1]), gt)
    assert res.obj_idxes.tolist() == [7, -1, 9, -1]
    assert res.matched_gt_idxes.tolist() == [0, -1, 1, -1]
    assert (res.iou[[0, 2]] > 0.8).all() and (res.iou[[1, 3]] == 0).all()
    assert crit.num_samples == 2


def test_fp_track_with_negative_id_is_never_matched() -> None:
    crit = MotrCriterion()
    gt = _gt([[0.5, 0.5, 0.2, 0.2]], [4])
    out = _outputs([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]])
    res = crit.match_frame(out, _instances([-2, -1]), gt)
    assert res.obj_idxes.tolist() == [-2, 4]
    assert res.matched_gt_idxes.tolist() == [-1, 0]


def test_disappeared_track_is_background_and_counts() -> None:
    crit = MotrCriterion()
    gt = _gt([[0.5, 0.5, 0.2, 0.2]], [9])
    out = _outputs(
        [
            [0.1, 0.1, 0.1, 0.1],  # track 5: absent from this frame
            [0.52, 0.5, 0.2, 0.2],  # detect -> new object 9
            [0.9, 0.9, 0.1, 0.1],  # detect, unmatched
        ]
    )
    res = crit.match_frame(out, _instances([5, -1, -1]), gt)
    assert res.obj_idxes.tolist() == [5, 9, -1]
    assert res.matched_gt_idxes.tolist() == [-1, 0, -1]
    assert res.iou[0].item() == 0.0
    assert crit.num_samples == 2  # 1 GT + 1 disappeared track
    losses = crit.clip_losses()
    # all logits 0: one positive (query 1), two negatives (queries 0 and 2); / 2 samples.
    assert losses["loss_ce"].item() == pytest.approx(
        2.0 * (FOCAL_POS + 2 * FOCAL_NEG) / 2, abs=1e-6
    )
    # only query 1 regresses: L1 0.02, / 2 samples.
    assert losses["loss_bbox"].item() == pytest.approx(5.0 * 0.02 / 2, abs=1e-6)


def test_collective_average_over_two_frames() -> None:
    crit = MotrCriterion()
    crit.init_clip()
    # Frame 1: two new objects, two detect queries; L1 0.02 + 0.05.
    gt1 = _gt([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]], [1, 2])
    out1 = _outputs([[0.32, 0.3, 0.2, 0.2], [0.7, 0.75, 0.2, 0.2]])
    inst = crit.match_frame(out1, _instances([-1, -1]), gt1)
    assert inst.obj_idxes.tolist() == [1, 2]
    assert crit.num_samples == 2
    # Frame 2: track 1 stays (L1 0.01), track 2 leaves, new object 3 on a detect query (L1 0.04).
    gt2 = _gt([[0.35, 0.3, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1]], [1, 3])
    inst2 = _instances(inst.obj_idxes.tolist() + [-1])
    out2 = _outputs([[0.35, 0.31, 0.2, 0.2], [0.9, 0.1, 0.1, 0.1], [0.5, 0.5, 0.1, 0.14]])
    res = crit.match_frame(out2, inst2, gt2)
    assert res.obj_idxes.tolist() == [1, 2, 3]
    assert res.matched_gt_idxes.tolist() == [0, -1, 1]
    assert crit.num_samples == 5  # (2 GT) + (2 GT + 1 disappeared)
    assert crit.num_frames == 2
    losses = crit.clip_losses()
    assert losses["loss_bbox"].item() == pytest.approx(5.0 * (0.07 + 0.05) / 5, abs=1e-6)
    # classification: 4 positives (2 + 2) and 1 negative (the disappeared track), logits 0.
    assert losses["loss_ce"].item() == pytest.approx(
        2.0 * (4 * FOCAL_POS + FOCAL_NEG) / 5, abs=1e-6
    )
    # 1 - GIoU of the four matched pairs.
    pred = torch.tensor([[0.32, 0.3, 0.2, 0.2], [0.7, 0.75, 0.2, 0.2]] + [[0.35, 0.31, 0.2, 0.2]])
    pred = torch.cat([pred, torch.tensor([[0.5, 0.5, 0.1, 0.14]])])
    target = torch.cat([gt1["boxes"], gt2["boxes"]])
    giou = torch.diagonal(generalized_box_iou(box_cxcywh_to_xyxy(pred), box_cxcywh_to_xyxy(target)))
    assert losses["loss_giou"].item() == pytest.approx(2.0 * (1 - giou).sum().item() / 5, abs=1e-6)
    # calling twice gives the same; init_clip resets.
    assert crit.clip_losses()["loss_bbox"].item() == pytest.approx(losses["loss_bbox"].item())
    crit.init_clip()
    assert crit.num_samples == 0
    with pytest.raises(RuntimeError, match="init_clip"):
        crit.clip_losses()


def test_l1_gradient_reaches_only_matched_queries() -> None:
    crit = MotrCriterion()
    gt = _gt([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]], [3, 4])
    out = _outputs(
        [
            [0.1, 0.8, 0.1, 0.1],  # track 8: disappeared
            [0.52, 0.5, 0.2, 0.2],  # track 3
            [0.8, 0.8, 0.1, 0.1],  # detect, unmatched
            [0.21, 0.2, 0.1, 0.1],  # detect -> 4
        ]
    )
    crit.match_frame(out, _instances([8, 3, -1, -1]), gt)
    losses = crit.clip_losses()
    losses["loss_bbox"].backward(retain_graph=True)
    grad = out["pred_boxes"].grad
    assert (grad[[0, 2]] == 0).all()
    assert (grad[[1, 3]].abs().sum(dim=1) > 0).all()
    # d(5 * |x - t| / 3)/dx = 5/3 on the offset coordinates (3 samples: 2 GT + 1 disappeared).
    assert grad[1, 0].item() == pytest.approx(5.0 / 3, abs=1e-5)
    out["pred_logits"].grad = None
    losses["loss_ce"].backward()
    assert (out["pred_logits"].grad != 0).all()  # classification reaches every query


def test_empty_gt_frame() -> None:
    crit = MotrCriterion()
    out = _outputs([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1], [0.7, 0.7, 0.1, 0.1]])
    res = crit.match_frame(out, _instances([2, 6, -1]), _gt([], []))
    assert res.obj_idxes.tolist() == [2, 6, -1]
    assert res.matched_gt_idxes.tolist() == [-1, -1, -1]
    assert res.iou.tolist() == [0.0, 0.0, 0.0]
    assert crit.num_samples == 2  # two disappeared tracks
    losses = crit.clip_losses()
    assert losses["loss_bbox"].item() == 0.0 and losses["loss_giou"].item() == 0.0
    assert losses["loss_ce"].item() == pytest.approx(2.0 * 3 * FOCAL_NEG / 2, abs=1e-6)
    sum(losses.values()).backward()
    assert out["pred_boxes"].grad is None or (out["pred_boxes"].grad == 0).all()

    # no tracks, no GT: num_samples stays 0 and the divisor is 1.
    crit.init_clip()
    crit.match_frame(_outputs([[0.5, 0.5, 0.2, 0.2]]), _instances([-1]), _gt([], []))
    assert crit.num_samples == 0
    assert crit.clip_losses()["loss_ce"].item() == pytest.approx(2.0 * FOCAL_NEG, abs=1e-6)


def test_aux_layers_keep_tracks_and_rematch_new_objects() -> None:
    crit = MotrCriterion(aux_loss=True)
    gt = _gt([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.1, 0.1]], [7, 9])
    final = [[0.3, 0.32, 0.2, 0.2], [0.7, 0.71, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]]
    # aux layer 0: the track is far from its GT (kept anyway); the new object is nearest to
    # query 2 (L1 0.03) instead of query 1.
    aux0_boxes = [[0.5, 0.3, 0.2, 0.2], [0.1, 0.9, 0.1, 0.1], [0.7, 0.73, 0.1, 0.1]]
    aux = [
        {"pred_logits": torch.zeros(3, 1), "pred_boxes": torch.tensor(aux0_boxes)},
        {"pred_logits": torch.zeros(3, 1), "pred_boxes": torch.tensor(final)},
    ]
    res = crit.match_frame(_outputs(final, aux=aux), _instances([7, -1, -1]), gt)
    assert res.obj_idxes.tolist() == [7, 9, -1]  # ids come from the last layer
    losses = crit.clip_losses()
    expected = {"loss_ce", "loss_bbox", "loss_giou"}
    expected |= {f"{k}_aux{i}" for k in ("loss_ce", "loss_bbox", "loss_giou") for i in (0, 1)}
    assert set(losses) == expected
    assert losses["loss_bbox"].item() == pytest.approx(5.0 * 0.03 / 2, abs=1e-6)
    assert losses["loss_bbox_aux1"].item() == pytest.approx(losses["loss_bbox"].item(), abs=1e-7)
    assert losses["loss_bbox_aux0"].item() == pytest.approx(5.0 * (0.2 + 0.03) / 2, abs=1e-6)

    off = MotrCriterion(aux_loss=False)
    off.match_frame(_outputs(final, aux=aux), _instances([7, -1, -1]), gt)
    assert set(off.clip_losses()) == {"loss_ce", "loss_bbox", "loss_giou"}


def test_matches_reference_focal_and_giou_on_random_frame() -> None:
    # Total losses equal the per-pair definitions evaluated on the returned assignment.
    gen = torch.Generator().manual_seed(1)
    crit = MotrCriterion(num_classes=2, aux_loss=False)
    n, m = 6, 3
    logits = torch.randn(n, 2, generator=gen)
    boxes = (torch.rand(n, 4, generator=gen) * 0.3 + 0.2).tolist()
    gt = _gt((torch.rand(m, 4, generator=gen) * 0.3 + 0.2).tolist(), [10, 11, 12], [0, 1, 1])
    out = _outputs(boxes, logits=logits)
    res = crit.match_frame(out, _instances([11, -1, -1, -1, -1, -1]), gt)
    assert res.matched_gt_idxes[0].item() == 1
    q = torch.nonzero(res.matched_gt_idxes >= 0).flatten()
    g = res.matched_gt_idxes[q]
    assert sorted(g.tolist()) == [0, 1, 2]
    target = torch.zeros(n, 2)
    target[q, gt["labels"][g]] = 1
    ce = sigmoid_focal_loss(logits, target).sum()
    l1 = (torch.tensor(boxes)[q] - gt["boxes"][g]).abs().sum()
    giou = torch.diagonal(
        generalized_box_iou(
            box_cxcywh_to_xyxy(torch.tensor(boxes)[q]), box_cxcywh_to_xyxy(gt["boxes"][g])
        )
    )
    losses = crit.clip_losses()
    assert losses["loss_ce"].item() == pytest.approx(2.0 * ce.item() / 3, rel=1e-5)
    assert losses["loss_giou"].item() == pytest.approx(2.0 * (1 - giou).sum().item() / 3, rel=1e-5)
    assert losses["loss_bbox"].item() == pytest.approx(5.0 * l1.item() / 3, rel=1e-5)


def test_matcher_from_config() -> None:
    crit = MotrCriterion(matcher={"cost_bbox": 1.0})
    assert isinstance(crit.matcher, HungarianMatcher) and crit.matcher.cost_bbox == 1.0
    built = build_from_registry(
        {"type": "MotrCriterion", "matcher": {"type": "HungarianMatcher", "cost_giou": 3.0}}
    )
    assert isinstance(built, MotrCriterion) and built.matcher.cost_giou == 3.0


def test_shape_errors_name_the_key() -> None:
    crit = MotrCriterion()
    gt = _gt([[0.5, 0.5, 0.2, 0.2]], [1])
    with pytest.raises(ValueError, match="pred_logits"):
        crit.match_frame(_outputs([[0.5, 0.5, 0.2, 0.2]] * 2), _instances([-1, -1, -1]), gt)
    bad = dict(gt, labels=torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="labels"):
        crit.match_frame(_outputs([[0.5, 0.5, 0.2, 0.2]]), _instances([-1]), bad)
    bad = dict(gt, boxes=torch.rand(2, 4))
    with pytest.raises(ValueError, match="boxes"):
        crit.match_frame(_outputs([[0.5, 0.5, 0.2, 0.2]]), _instances([-1]), bad)
    with pytest.raises(ValueError, match="obj_ids"):
        crit.match_frame(
            _outputs([[0.5, 0.5, 0.2, 0.2]]), _instances([-1]), _gt([[0.5] * 4] * 2, [1, 1])
        )
    out = _outputs([[0.5, 0.5, 0.2, 0.2]])
    del out["aux_outputs"]
    with pytest.raises(ValueError, match="aux_outputs"):
        crit.match_frame(out, _instances([-1]), gt)
    aux = [{"pred_logits": torch.zeros(2, 1), "pred_boxes": torch.rand(2, 4)}]
    with pytest.raises(ValueError, match=r"aux_outputs'\]\[0\]\['pred_logits"):
        crit.match_frame(_outputs([[0.5, 0.5, 0.2, 0.2]], aux=aux), _instances([-1]), gt)
