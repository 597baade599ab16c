"""MeanIOU: global confusion matrix, IoU per class, NaN classes, ignore, DDP sum."""

import math

# cityscapesScripts is a pinned dev/test requirement (requirements-dev.txt, the `test` extra):
# imported unconditionally so that a missing package fails the suite instead of skipping the
# comparison with the official evaluation.
import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as ev
import numpy as np
import pytest
import torch
from cityscapesscripts.helpers.labels import labels, trainId2label
from gloo_ranks import on_two_ranks

from hat.data.cityscapes_labels import CITYSCAPES_CLASSES
from hat.metrics.mean_iou import MeanIOU

NAMES = ["a", "b", "c"]


def _miou(target, preds, **kw):
    m = MeanIOU(NAMES, log_per_class=False, **kw)
    m.update(torch.as_tensor(target), torch.as_tensor(preds))
    return m


def test_hand_made_confusion():
    target = [[[0, 0, 1], [1, 2, 255]]]
    preds = [[[0, 1, 1], [1, 0, 2]]]
    m = _miou(target, preds)
    # a: TP 1, FN 1 (0->1), FP 1 (2->0): 1/3; b: TP 2, FP 1: 2/3; c: TP 0, FN 1: 0
    iou = m.per_class_iou()
    assert iou == pytest.approx({"a": 1 / 3, "b": 2 / 3, "c": 0.0})
    assert m.get() == ("mIoU", pytest.approx(1 / 3))
    assert m.confusion.dtype == torch.int64 and m.confusion.shape == (3, 4)
    assert int(m.confusion.sum()) == 5  # the 255 pixel is not counted at all
    s = m.summary()
    assert s["aAcc"] == pytest.approx(3 / 5) and s["acc"] == pytest.approx([0.5, 1.0, 0.0])


def test_absent_class_is_nan_and_left_out():
    m = _miou([[0, 0, 1, 1]], [[0, 0, 1, 0]])
    iou = m.per_class_iou()
    assert math.isnan(iou["c"])
    assert m.get()[1] == pytest.approx((2 / 3 + 1 / 2) / 2)
    only_fp = _miou([[0, 0]], [[0, 2]])  # c never in the target but predicted: IoU 0, counted
    assert only_fp.per_class_iou()["c"] == 0.0
    assert only_fp.get()[1] == pytest.approx((1 / 2 + 0.0) / 2)
    empty = MeanIOU(NAMES, log_per_class=False)
    assert math.isnan(empty.get()[1])


def test_ignore_index_and_out_of_range_preds():
    m = _miou([[255, 255, 0]], [[1, 2, 0]])
    assert m.per_class_iou()["a"] == 1.0 and math.isnan(m.per_class_iou()["b"])
    miss = _miou([[0, 1]], [[255, 1]])  # an invalid prediction: a miss, no false positive
    assert miss.per_class_iou() == pytest.approx(
        {"a": 0.0, "b": 1.0, "c": float("nan")}, nan_ok=True
    )
    other = _miou([[7, 0]], [[0, 0]], ignore_index=7)
    assert other.per_class_iou()["a"] == 1.0


def test_multi_batch_equals_one_shot():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 19, (6, 1, 16, 24), generator=g)
    target[target == 5] = 255
    logits = torch.randn(6, 19, 16, 24, generator=g) + 3 * torch.nn.functional.one_hot(
        target[:, 0].clamp(max=18), 19
    ).permute(0, 3, 1, 2)
    one = MeanIOU(CITYSCAPES_CLASSES, log_per_class=False)
    one.update(target, logits)
    many = MeanIOU(CITYSCAPES_CLASSES, log_per_class=False)
    for i in range(0, 6, 2):
        many.update(target[i : i + 2], [logits[i : i + 2]])  # a list: its first item is used
    assert torch.equal(one.confusion, many.confusion)
    assert one.get()[1] == many.get()[1]
    # mIoU over the split is not the mean of per-image mIoUs
    per_image = []
    for i in range(6):
        m = MeanIOU(CITYSCAPES_CLASSES, log_per_class=False)
        m.update(target[i : i + 1], logits[i : i + 1])
        per_image.append(m.get()[1])
    assert one.get()[1] != pytest.approx(float(np.mean(per_image)), abs=1e-9)
    many.reset()
    assert int(many.confusion.sum()) == 0


def test_input_layouts():
    target = torch.tensor([[[0, 1], [2, 1]]])
    ids = torch.tensor([[[0, 1], [2, 2]]])
    ref = _miou(target, ids).confusion
    logits = torch.nn.functional.one_hot(ids, 3).permute(0, 3, 1, 2).float()
    assert torch.equal(_miou(target[:, None], logits).confusion, ref)
    assert torch.equal(_miou(target, ids[:, None]).confusion, ref)
    onehot = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float()
    onehot[0, :, 0, 0] = 0  # an ignored pixel in one-hot form
    assert int(_miou(onehot, ids).confusion.sum()) == 3
    small = torch.tensor([[[1]]])  # (1, 1, 1) upsampled (nearest) to the target's 2x2
    assert _miou(target, small).per_class_iou()["b"] == pytest.approx(0.5)


def test_global_ignore_index_and_table():
    m = _miou([[0, 1, 2]], [[0, 1, 0]], global_ignore_index=[2])
    assert m.get()[1] == pytest.approx((1 / 2 + 1) / 2)
    table = m.table()
    assert "not in mean" in table and all(n in table for n in NAMES)
    assert "mIoU" in table and "75.00" in table


def test_matches_cityscapesscripts_iou():
    g = np.random.default_rng(1)
    target = g.integers(0, 20, (3, 20, 30))
    target[target == 19] = 255
    preds = np.where(g.random(target.shape) < 0.6, target, g.integers(0, 19, target.shape))
    preds[preds == 255] = 3
    ours = MeanIOU(CITYSCAPES_CLASSES, log_per_class=False)
    ours.update(torch.as_tensor(target), torch.as_tensor(preds))
    # their confusion matrix is indexed by labelIds
    to_id = {t: trainId2label[t].id for t in range(19)}
    to_id[255] = 0  # "unlabeled": ignored in evaluation
    cm = np.zeros((34, 34), np.int64)
    for t, p in zip(target.ravel(), preds.ravel()):
        cm[to_id[int(t)], to_id[int(p)]] += 1

    class Args:
        evalLabels = [lab.id for lab in labels if lab.id >= 0]

    theirs = {
        lab.name: ev.getIouScoreForLabel(lab.id, cm, Args)
        for lab in labels
        if 0 <= lab.trainId < 255
    }
    assert ours.per_class_iou() == pytest.approx(theirs, nan_ok=True)
    assert ours.get()[1] == pytest.approx(ev.getScoreAverage(theirs, Args))


def _miou_on_rank(rank: int) -> dict:
    m = MeanIOU(NAMES, log_per_class=False)
    m.update(
        torch.tensor([[0, 1]]) if rank == 0 else torch.tensor([[2, 2]]),
        torch.tensor([[0, 0]]) if rank == 0 else torch.tensor([[2, 1]]),
    )
    name, value = m.get()
    return {"value": value, "local": m.confusion.sum().item()}


def test_ddp_sums_confusion_over_ranks(tmp_path):
    res = on_two_ranks(_miou_on_rank, tmp_path)
    # global: a TP1 FP1 -> 1/2; b FN1 FP1 (rank 1 predicts b for c) -> 0; c TP1 FN1 -> 1/2
    assert res["value"] == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)
    assert res["local"] == 2  # get() does not change the rank's own state
