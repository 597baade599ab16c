"""StereoNet (float): shapes, masked losses, gradients, errors, soft-argmin on one-hot costs."""

import copy

import pytest
import torch
from torch import nn

from hat.models.losses import SmoothL1Loss
from hat.registry import BuildError, build_from_registry

TINY = dict(
    type="StereoNet",
    backbone=dict(
        type="StereoNetNeck",
        out_channels=[8, 8, 12, 16, 16, 4],
        use_bn=True,
        bias=False,
        bn_kwargs={},
        act_type=nn.ReLU(),
        num_blocks=(1, 1, 1, 1),
    ),
    head=dict(
        type="StereoNetHead",
        maxdisp=64,
        refine_levels=4,
        bn_kwargs={},
        num_groups=4,
        concat_channels=4,
        agg_channels=(16, 16),
        refine_channels=8,
        refine_dilations=(1, 2),
    ),
    post_process=dict(type="StereoNetPostProcess", maxdisp=64),
    loss=dict(type="SmoothL1Loss"),
    loss_weights=[0.3, 0.3, 0.5, 0.5, 1.0],
)


def _model(**head):
    cfg = copy.deepcopy(TINY)
    cfg["head"].update(head)
    torch.manual_seed(0)
    return build_from_registry(cfg)


def test_train_and_eval_shapes():
    model = _model()
    img = torch.randn(2, 6, 64, 96)
    gt = torch.rand(2, 1, 64, 96) * 60 + 1
    out = model(dict(img=img, gt_disp=gt))
    assert sorted(out["losses"]) == [f"disp_loss_l{i}" for i in range(5)]
    assert all(v.dim() == 0 and torch.isfinite(v) for v in out["losses"].values())
    assert [tuple(p.shape) for p in out["pred_disps"]] == [(2, 1, 64, 96)] * 5
    assert not out["disp"].requires_grad
    model.eval()
    with torch.no_grad():
        pred = model(dict(img=img))
    assert pred.shape == (2, 1, 64, 96) and torch.all(pred >= 0)
    # eval output = the finest level at input resolution, in pixels
    model.train(False)
    levels = model.head(model.backbone(img))
    assert [tuple(p.shape[-2:]) for p in levels] == [(4, 6), (8, 12), (16, 24), (32, 48), (64, 96)]
    torch.testing.assert_close(pred, levels[-1] * 64)


def test_every_parameter_gets_a_gradient():
    model = _model()
    out = model(dict(img=torch.randn(1, 6, 64, 96), gt_disp=torch.rand(1, 64, 96) * 60 + 1))
    sum(out["losses"].values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert model.head.aggregation[0].conv.weight.grad.abs().sum() > 0


def test_loss_counts_only_valid_pixels():
    model = _model()
    gt = torch.full((1, 1, 4, 5), 10.0)
    gt[0, 0, 0] = 0.0  # no ground truth
    gt[0, 0, 1, :2] = 64.0  # at maxdisp: out of range
    gt[0, 0, 1, 2] = float("nan")
    gt[0, 0, 2, :] = 7.0
    pred = torch.full((1, 1, 4, 5), 9.0)
    losses = model.compute_losses([pred] * 5, gt)
    valid = (gt > 0) & (gt < 64)
    expect = nn.functional.smooth_l1_loss(pred[valid], gt[valid])
    assert valid.sum() == 12
    for w, v in zip(model.loss_weights, losses.values()):
        torch.testing.assert_close(v, w * expect)
    wild = pred.clone()
    wild[~valid] = 1000.0  # predictions on invalid pixels do not matter
    torch.testing.assert_close(model.compute_losses([wild] * 5, gt), losses)


def test_loss_without_valid_pixels_is_zero_and_differentiable():
    model = _model()
    pred = torch.rand(1, 1, 4, 5, requires_grad=True)
    losses = model.compute_losses([pred] * 5, torch.zeros(1, 1, 4, 5))
    total = sum(losses.values())
    assert float(total.detach()) == 0.0
    total.backward()
    assert torch.all(pred.grad == 0)


def test_smooth_l1_loss_values():
    loss = SmoothL1Loss(beta=1.0)
    pred, target = torch.tensor([0.0, 0.5, 3.0]), torch.tensor([0.0, 0.0, 0.0])
    torch.testing.assert_close(loss(pred, target), torch.tensor((0.0 + 0.125 + 2.5) / 3))
    with pytest.raises(ValueError, match="differ"):
        loss(pred, target[:2])


def test_head_soft_argmin_on_one_hot_cost_is_exact():
    head = _model().head
    d = head.num_disp
    assert d == 4
    scores = torch.full((1, d, 2, 3), -30.0)
    idx = torch.tensor([[[0, 1, 2], [3, 2, 1]]])
    scores.scatter_(1, idx.unsqueeze(1), 30.0)
    disp = head.soft_argmin(scores)  # units of maxdisp: index / D
    torch.testing.assert_close(disp[:, 0] * head.maxdisp, idx.float() * head.stride)


def test_errors_are_clear():
    model = _model()
    with pytest.raises(KeyError, match="gt_disp"):
        model(dict(img=torch.randn(1, 6, 64, 96)))
    with pytest.raises(ValueError, match="6, H, W"):
        model(dict(img=torch.randn(1, 3, 64, 96), gt_disp=torch.ones(1, 64, 96)))
    with pytest.raises(BuildError, match="multiple"):
        _model(maxdisp=100)
    bad = copy.deepcopy(TINY)
    bad["loss_weights"] = [1.0, 1.0]
    with pytest.raises(ValueError, match="loss_weights"):
        build_from_registry(bad)(dict(img=torch.randn(1, 6, 64, 96), gt_disp=torch.ones(1, 64, 96)))
    head = _model(refine_levels=3, maxdisp=64).head
    with pytest.raises(ValueError, match="stride 8"):
        head(_model().backbone(torch.randn(1, 6, 64, 96)))


def test_stride_8_variant():
    cfg = copy.deepcopy(TINY)
    cfg["backbone"]["stage_strides"] = (2, 2, 1, 1)
    cfg["head"].update(refine_levels=3, maxdisp=32)
    cfg["post_process"]["maxdisp"] = 32
    cfg["loss_weights"] = [0.3, 0.5, 0.5, 1.0]
    model = build_from_registry(cfg)
    assert model.backbone.stride == 8 and model.head.num_disp == 4
    model.eval()
    levels = model.head(model.backbone(torch.randn(1, 6, 48, 64)))
    assert [tuple(p.shape[-2:]) for p in levels] == [(6, 8), (12, 16), (24, 32), (48, 64)]
    with pytest.raises(BuildError, match="stage_strides"):
        build_from_registry(dict(cfg["backbone"], stage_strides=(2, 3, 1, 1)))
