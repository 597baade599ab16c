"""Geometric transforms, checked by warping: img2 warped by the new flow must give img1."""

import numpy as np
import pytest
import torch

from hat.data.synthetic.flyingchairs import check_pair, pair_rng, render_pair
from hat.data.transforms import (
    FlowRandomAffineScale,
    InterpolationMode,
    RandomCrop,
    RandomFlip,
    SegRandomAffine,
    ToTensor,
)
from hat.data.transforms.flip import flip_sample


@pytest.fixture(scope="module")
def pair():
    p = render_pair(pair_rng(11, 0), 96, 128, max_translation=60.0)
    assert np.abs(p.flow[..., 0]).mean() > 1.5 and np.abs(p.flow[..., 1]).mean() > 1.5
    return p


def _sample(p):
    return {"img": [p.img1, p.img2], "gt_flow": p.flow, "gt_seg": p.valid.astype(np.uint8)}


def _ratio(sample, flow=None):
    img = sample["img"]
    if isinstance(img, torch.Tensor):
        img1 = img[:3].permute(1, 2, 0).numpy()
        img2 = img[3:].permute(1, 2, 0).numpy()
        flow = sample["gt_flow"].permute(1, 2, 0).numpy() if flow is None else flow
        valid = sample["gt_seg"].numpy().astype(bool)
    else:
        img1, img2 = img
        flow = sample["gt_flow"] if flow is None else flow
        valid = sample["gt_seg"].astype(bool)
    return check_pair(img1, img2, flow, valid)["ratio"]


def test_original_pair_reconstructs(pair):
    assert _ratio(_sample(pair)) < 0.05


@pytest.mark.parametrize("horizontal", [True, False])
def test_flip_sign_by_warping(pair, horizontal):
    out = flip_sample(_sample(pair), horizontal)
    assert _ratio(out) < 0.05
    comp = 0 if horizontal else 1
    wrong = out["gt_flow"].copy()
    wrong[..., comp] *= -1  # the flow mirrored without the sign change
    assert _ratio(out, wrong) > 0.3
    ref = pair.img1[:, ::-1] if horizontal else pair.img1[::-1]
    np.testing.assert_array_equal(out["img"][0], ref)


def test_flip_tiny_example():
    img = np.zeros((1, 4, 3), np.uint8)
    flow = np.zeros((1, 4, 2), np.float32)
    flow[0, 0] = (2.0, 1.0)  # pixel x=0 moves to x=2
    out = flip_sample({"img": [img, img], "gt_flow": flow}, horizontal=True)
    np.testing.assert_array_equal(out["gt_flow"][0, 3], [-2.0, 1.0])  # x'=3 moves to x'=1


def test_random_flip_layouts_agree(pair):
    sample = _sample(pair)
    tensors = ToTensor()(sample)
    both = RandomFlip(px=1.0, py=1.0)
    np_out, t_out = both(sample), both(tensors)
    assert _ratio(np_out) < 0.05
    np.testing.assert_array_equal(ToTensor()(np_out)["img"].numpy(), t_out["img"].numpy())
    np.testing.assert_allclose(ToTensor()(np_out)["gt_flow"], t_out["gt_flow"])
    batch = {k: torch.stack([v, v]) for k, v in tensors.items()}
    b_out = both(batch)
    torch.testing.assert_close(b_out["gt_flow"][1], t_out["gt_flow"])
    assert RandomFlip(0.0, 0.0)(sample) is sample
    with pytest.raises(ValueError, match="px"):
        RandomFlip(px=1.5)


def test_random_flip_batch_draws_per_sample():
    torch.manual_seed(0)
    flow = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4).repeat(64, 1, 1, 1)
    batch = {"img": torch.zeros(64, 6, 4, 4), "gt_flow": flow}
    out = RandomFlip(px=0.5, py=0.0)(batch)
    flipped = (out["gt_flow"][:, 0, 0, 0] != flow[:, 0, 0, 0]).sum().item()
    assert 10 < flipped < 54


def test_random_crop_aligned():
    ys, xs = np.mgrid[0:64, 0:96]
    img = np.stack([ys, xs, np.zeros_like(ys)], -1).astype(np.uint8)
    flow = np.stack([xs, ys], -1).astype(np.float32)
    torch.manual_seed(1)
    out = RandomCrop((40, 50))({"img": [img, img], "gt_flow": flow, "img_name": 3})
    assert out["img"][0].shape == (40, 50, 3) and out["gt_flow"].shape == (40, 50, 2)
    np.testing.assert_array_equal(out["img"][1][..., 0], out["gt_flow"][..., 1])
    np.testing.assert_array_equal(out["img"][0][..., 1], out["gt_flow"][..., 0])
    assert out["img_name"] == 3
    t = ToTensor()({"img": [img, img], "gt_flow": flow})
    out_t = RandomCrop(32)(t)
    assert out_t["img"].shape == (6, 32, 32) and out_t["gt_flow"].shape == (2, 32, 32)
    assert out_t["img"].dtype == torch.uint8
    torch.testing.assert_close(out_t["img"][0].float(), out_t["gt_flow"][1])
    with pytest.raises(ValueError, match=r"crop size \(100, 50\) is larger than the image"):
        RandomCrop((100, 50))({"img": [img, img], "gt_flow": flow})


def _const_sample(u, v, h=40, w=50):
    img = torch.rand(6, h, w) * 255
    flow = torch.empty(2, h, w)
    flow[0], flow[1] = u, v
    return {"img": img, "gt_flow": flow}


def _inside(flow, fill=-99.0):
    return flow[:, (flow[0] != fill) | (flow[1] != fill)]


def test_affine_translation_keeps_flow_values():
    torch.manual_seed(3)
    t = SegRandomAffine(translate=(0.2, 0.2), label_fill_value=-99.0, interpolation="bilinear")
    out = t(_const_sample(3.0, -2.0))
    vals = _inside(out["gt_flow"])
    assert 0 < vals.shape[1] < 40 * 50  # some pixels shifted in from outside
    torch.testing.assert_close(vals, torch.tensor([[3.0], [-2.0]]).expand_as(vals))


def test_affine_scale_multiplies_flow():
    t = SegRandomAffine(scale=(1.5, 1.5), label_fill_value=-99.0)
    vals = _inside(t(_const_sample(2.0, 1.0))["gt_flow"])
    torch.testing.assert_close(vals, torch.tensor([[3.0], [1.5]]).expand_as(vals))


def test_affine_rotation_rotates_vectors():
    t = SegRandomAffine(degrees=(90, 90), label_fill_value=-99.0)
    vals = _inside(t(_const_sample(1.0, 0.0))["gt_flow"])
    # +90 deg turns the picture counter-clockwise on screen (y down): rightward -> upward
    torch.testing.assert_close(vals, torch.tensor([[0.0], [-1.0]]).expand_as(vals))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(translate=(0.1, 0.1)),
        dict(scale=(0.8, 1.25)),
        dict(degrees=10),
        dict(degrees=8, translate=(0.05, 0.05), scale=(0.9, 1.1), shear=5),
    ],
)
def test_affine_by_warping(pair, kwargs):
    torch.manual_seed(5)
    t = SegRandomAffine(interpolation=InterpolationMode.BILINEAR, **kwargs)
    sample = ToTensor()(_sample(pair))
    out = t(sample)
    assert out is not sample
    assert _ratio(out) < 0.1


def test_affine_probabilities_and_layouts(pair):
    sample = _sample(pair)
    never = SegRandomAffine(translate=(0.1, 0.1), translate_p=0.0)
    assert never(sample) is sample
    torch.manual_seed(2)
    out = SegRandomAffine(degrees=5, interpolation="bilinear")(sample)  # numpy in, numpy out
    assert out["img"][0].dtype == np.uint8 and out["gt_flow"].dtype == np.float32
    assert out["gt_seg"].dtype == np.uint8 and _ratio(out) < 0.1
    batch = {k: torch.stack([v, v]) for k, v in ToTensor()(sample).items()}
    out_b = SegRandomAffine(degrees=5, interpolation="bilinear")(batch)
    assert out_b["img"].shape == batch["img"].shape
    assert not torch.equal(out_b["gt_flow"][0], out_b["gt_flow"][1])  # own draw per sample
    with pytest.raises(ValueError, match="unknown interpolation 'cubic'"):
        SegRandomAffine(interpolation="cubic")


def test_flow_random_affine_scale_by_warping(pair):
    t = FlowRandomAffineScale(scale_p=1.0, scale_r=0.1)
    sample = _sample(pair)
    out = t.apply(ToTensor()(sample), torch.tensor([1.1]))
    assert _ratio(out) < 0.1
    torch.testing.assert_close(out["img"][:3], ToTensor()(sample)["img"][:3])  # img1 untouched
    uncorrected = pair.flow
    assert _ratio(out, uncorrected) > 0.3
    # exact correction: f' = s f + (s - 1)(p - c)
    c = ((128 - 1) / 2, (96 - 1) / 2)
    expect = 1.1 * pair.flow[10, 20] + 0.1 * np.array([20 - c[0], 10 - c[1]])
    np.testing.assert_allclose(out["gt_flow"][:, 10, 20].numpy(), expect, rtol=1e-5)
    torch.manual_seed(0)
    out_np = t(sample)
    assert out_np["img"][1].dtype == np.uint8 and _ratio(out_np) < 0.1
    assert FlowRandomAffineScale(scale_p=0.0)(sample) is sample
