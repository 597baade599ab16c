"""BevEncoder and the BEV augmentation of BevStructure's training batches (real EfficientNet,
BiFPN, BevRotate and BevFlip)."""

import math

import numpy as np
import pytest
import torch

from hat.data.transforms.bev_flip import BevFlip
from hat.data.transforms.bev_rotate import BevRotate
from hat.models.structures.bev_points import BevIpmPoints, batch_ipm_points
from hat.models.structures.bev_structure import apply_bev_transforms
from hat.registry import build_from_registry

BEV_SIZE = (51.2, 51.2, 0.8)
VIEWS, IMG_HW = 6, (64, 96)
B0_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}


def encoder_cfg(in_channels=64, out_channels=48, stack=1):
    return dict(
        type="BevEncoder",
        backbone=dict(
            type="efficientnet", model_type="b0", num_classes=1000, include_top=False,
            activation="relu", use_se_block=False, in_channels=in_channels,
        ),
        neck=dict(
            type="BiFPN", in_strides=[2, 4, 8, 16, 32], out_strides=[2, 4, 8, 16, 32],
            stride2channels=dict(B0_CHANNELS), out_channels=out_channels, num_outs=5,
            stack=stack, start_level=0, end_level=-1, fpn_name="bifpn_sum",
        ),
    )  # fmt: skip


def test_bev_encoder_levels_and_gradients():
    enc = build_from_registry(encoder_cfg())
    x = torch.randn(2, 64, 64, 64, requires_grad=True)
    outs = enc(x)
    assert [tuple(o.shape) for o in outs] == [(2, 48, 64 // s, 64 // s) for s in B0_CHANNELS]
    sum(o.square().mean() for o in outs).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(B, C, Hb, Wb\)"):
        enc(torch.randn(64, 64, 64))


def batch_targets(batch=3, seed=0):
    rng = np.random.default_rng(seed)
    boxes = []
    for n in (4, 0, 2)[:batch]:
        b = rng.uniform(-20, 20, (n, 9))
        b[:, 3:6] = rng.uniform(1, 4, (n, 3))
        b[:, 6] = rng.uniform(-math.pi, math.pi, n)
        boxes.append(torch.as_tensor(b, dtype=torch.float32))
    mask = torch.zeros(batch, 200, 400, dtype=torch.int64)
    mask[:, 100:104, 200:300] = 1  # a divider ahead of the ego (x = 0..15 m), left of the centre
    mask[:, 20:30, 190:210] = 2  # a crossing on the right (y = -12 m)
    return dict(img=torch.zeros(batch * 6, 3, 8, 8), gt_boxes=boxes, gt_seg_mask=mask)


def test_rotation_per_sample_moves_boxes_mask_and_bev_aug_together():
    data = batch_targets()
    np.random.seed(3)
    out = apply_bev_transforms(data, [BevRotate(BEV_SIZE, rot=(-0.4, 0.4))])
    assert out["bev_aug"].shape == (3, 4, 4) and out["bev_aug"].dtype == torch.float64
    angles = []
    for b in range(3):
        aug = out["bev_aug"][b].numpy()
        a = math.atan2(aug[1, 0], aug[0, 0])
        angles.append(a)
        assert -0.4 <= a <= 0.4
        np.testing.assert_allclose(
            aug[:2, :2], [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], atol=1e-12
        )
        np.testing.assert_allclose(aug[2:], np.eye(4)[2:])
        src, dst = data["gt_boxes"][b].double(), out["gt_boxes"][b]
        assert dst.dtype == torch.float32 and dst.shape == src.shape
        np.testing.assert_allclose(
            dst[:, :2].double(), src[:, :2] @ torch.tensor(aug[:2, :2]).T, atol=1e-4
        )
        np.testing.assert_allclose(dst[:, 2:6], src[:, 2:6].float())  # z and sizes unchanged
        dyaw = (dst[:, 6].double() - src[:, 6] - a + math.pi) % (2 * math.pi) - math.pi
        np.testing.assert_allclose(dyaw, 0.0, atol=1e-5)
    assert len(set(angles)) == 3  # one draw per sample
    # the map turned about the ego origin: the divider cell (row 102, col 266) at
    # (x, y) = (9.975, 0.375) m lands where the rotation takes that point
    x0, y0 = -30 + 266.5 * 0.15, -15 + 102.5 * 0.15
    for b, a in enumerate(angles):
        x = x0 * math.cos(a) - y0 * math.sin(a)
        y = x0 * math.sin(a) + y0 * math.cos(a)
        row, col = math.floor((y + 15) / 0.15), math.floor((x + 30) / 0.15)
        assert out["gt_seg_mask"][b, row, col] == 1
        assert out["gt_seg_mask"][b].eq(1).sum() == pytest.approx(400, rel=0.05)
    assert out["gt_seg_mask"].dtype == torch.int64
    assert data["gt_seg_mask"][0, 101, 266] == 1 and "bev_aug" not in data  # input untouched


def test_flip_both_axes_is_index_reversal_and_chains_with_rotation():
    data = batch_targets(batch=2)
    out = apply_bev_transforms(data, [BevFlip(prob_x=1.0, prob_y=1.0, bev_size=BEV_SIZE)])
    assert torch.equal(out["gt_seg_mask"], data["gt_seg_mask"].flip(1, 2))
    np.testing.assert_allclose(out["gt_boxes"][0][:, :2], -data["gt_boxes"][0][:, :2])
    np.testing.assert_allclose(out["bev_aug"][0].numpy(), np.diag([-1.0, -1.0, 1.0, 1.0]))
    # a second pass accumulates: flip then rotate by a fixed angle -> R @ F
    out2 = apply_bev_transforms(out, [BevRotate(BEV_SIZE, rot=(0.3, 0.3))])
    c, s = math.cos(0.3), math.sin(0.3)
    expect = np.eye(4)
    expect[:2, :2] = np.array([[c, -s], [s, c]]) @ np.diag([-1.0, -1.0])
    np.testing.assert_allclose(out2["bev_aug"][1].numpy(), expect, atol=1e-12)


def test_augmentation_errors_name_the_keys():
    with pytest.raises(KeyError, match="gt_boxes"):
        apply_bev_transforms(dict(img=torch.zeros(6, 3, 4, 4)), [BevFlip(1, 1, BEV_SIZE)])
    data = batch_targets(batch=2)
    data["gt_seg_mask"] = data["gt_seg_mask"][:1]
    with pytest.raises(ValueError, match="disagree on the batch size"):
        apply_bev_transforms(data, [BevFlip(1, 1, BEV_SIZE)])


def camera_rig(batch):
    """6 cameras 1.5 m above the ground at yaws 0, 60, ..., 300 deg, looking horizontally, with
    a 90 deg horizontal field of view on 64x96 images."""
    h, w = IMG_HW
    f = w / 2.0
    k = torch.tensor([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    s2e = torch.zeros(VIEWS, 4, 4, dtype=torch.float64)
    for v in range(VIEWS):
        t = math.radians(60 * v)
        s2e[v, :3, 0] = torch.tensor([math.sin(t), -math.cos(t), 0.0])  # image x: right
        s2e[v, :3, 1] = torch.tensor([0.0, 0.0, -1.0])  # image y: down
        s2e[v, :3, 2] = torch.tensor([math.cos(t), math.sin(t), 0.0])  # optical axis
        s2e[v, :, 3] = torch.tensor([0.0, 0.0, 1.5, 1.0])
    return k.expand(batch, VIEWS, 3, 3).clone(), s2e.expand(batch, VIEWS, 4, 4).clone()


def test_rotated_and_flipped_batches_give_the_moved_points():
    """90 deg rotations and mirrors map the BEV cells onto cells: the points of the augmented
    batch are the unaugmented points of the cell the augmentation moved there."""
    intrinsics, sensor2ego = camera_rig(2)
    data = dict(batch_targets(batch=2), intrinsics=intrinsics, sensor2ego=sensor2ego)
    data["img"] = torch.zeros(2 * VIEWS, 3, *IMG_HW)
    size, hw, n = (12.8, 12.8, 1.6), (8, 12), 16
    plain = BevIpmPoints(size, feat_stride=8)(data)["points"]
    assert plain.shape == (12, n, n, 2) and plain.dtype == torch.float32
    torch.testing.assert_close(plain, batch_ipm_points(data, size, hw, 8))
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    rot = apply_bev_transforms(data, [BevRotate(size, rot=(math.pi / 2, math.pi / 2))])
    # cell (i, j) of the scene turned by +90 deg shows the original point of cell (n-1-j, i)
    torch.testing.assert_close(
        batch_ipm_points(rot, size, hw, 8), plain[:, n - 1 - j, i], atol=1e-4, rtol=0
    )
    flip = apply_bev_transforms(data, [BevFlip(prob_x=1.0, prob_y=0.0, bev_size=size)])
    torch.testing.assert_close(batch_ipm_points(flip, size, hw, 8), plain.flip(2))
    assert not torch.equal(plain.flip(2), plain)  # the rig is not mirror-symmetric
    seen = (plain[:6] != -2.0).any(dim=-1)
    assert 0.2 < seen.float().mean() < 0.35 and seen.any(dim=0).float().mean() > 0.9
    with pytest.raises(KeyError, match=r"\['intrinsics', 'sensor2ego'\]"):
        BevIpmPoints(size)(dict(img=data["img"]))
