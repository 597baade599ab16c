"""Batch-level transforms, ToTensor and the interpolation-mode helper."""

import numpy as np
import pytest
import torch

from hat.data.transforms import (
    BgrToYuv444,
    InterpolationMode,
    Normalize,
    Scale,
    TorchVisionAdapter,
    ToTensor,
)
from hat.data.transforms.functional import interpolation_mode
from hat.registry import build_from_registry


def _hand_yuv(r, g, b):
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.1687 * r - 0.3313 * g + 0.5 * b + 128
    v = 0.5 * r - 0.4187 * g - 0.0813 * b + 128
    return [min(max(round(c), 0), 255) for c in (y, u, v)]


def test_yuv444_against_hand_computation():
    pixels = [(255, 0, 0), (10, 200, 30), (0, 0, 0), (255, 255, 255), (37, 91, 240)]
    img = torch.tensor(pixels, dtype=torch.float32).T.reshape(3, 1, len(pixels))
    pair = torch.cat([img, img.flip(-1)])[None]  # (1, 6, 1, 5): two images
    out = BgrToYuv444(rgb_input=True)({"img": pair})["img"]
    expect = [_hand_yuv(*p) for p in pixels]
    assert out[0, :3, 0].T.tolist() == expect
    assert out[0, 3:, 0].T.tolist() == expect[::-1]
    assert [76, 85, 255] == expect[0] and [124, 75, 47] == expect[1]  # worked by hand
    bgr = pair.view(1, 2, 3, 1, 5).flip(2).reshape(1, 6, 1, 5)
    torch.testing.assert_close(BgrToYuv444(rgb_input=False)({"img": bgr})["img"], out)
    single = BgrToYuv444(rgb_input=True)({"img": pair[0]})["img"]
    torch.testing.assert_close(single, out[0])


def test_yuv444_on_numpy_images_and_in_to_tensor():
    img = np.array([[[10, 200, 30]]], np.uint8)
    out = BgrToYuv444(rgb_input=True)({"img": [img, img]})["img"]
    assert out[0].dtype == np.uint8 and out[0][0, 0].tolist() == [124, 75, 47]
    t = ToTensor(to_yuv=True)({"img": [img, img]})["img"]
    assert t[:, 0, 0].tolist() == [124, 75, 47, 124, 75, 47]


def test_to_tensor_layout():
    rng = np.random.default_rng(0)
    img1, img2 = (rng.integers(0, 256, (4, 5, 3), dtype=np.uint8) for _ in range(2))
    flow = rng.normal(size=(4, 5, 2)).astype(np.float32)
    out = ToTensor(to_yuv=False)({"img": [img1, img2], "gt_flow": flow, "img_name": 7})
    assert out["img"].dtype == torch.uint8 and out["img"].shape == (6, 4, 5)
    assert out["gt_flow"].dtype == torch.float32
    assert out["img"].is_contiguous() and out["gt_flow"].is_contiguous()
    np.testing.assert_array_equal(out["img"][:3].permute(1, 2, 0).numpy(), img1)
    np.testing.assert_array_equal(out["img"][3:].permute(1, 2, 0).numpy(), img2)
    np.testing.assert_array_equal(out["gt_flow"].permute(1, 2, 0).numpy(), flow)
    assert out["img_name"] == 7
    as_float = ToTensor(img_dtype="float32")({"img": [img1, img2]})["img"]
    assert as_float.dtype == torch.float32 and torch.equal(as_float, out["img"].float())


def test_normalize_and_adapter():
    img = torch.tensor([0.0, 128.0, 255.0]).view(1, 1, 3).expand(6, 1, 3)
    out = TorchVisionAdapter(interface="Normalize", mean=128.0, std=128.0)({"img": img})["img"]
    torch.testing.assert_close(out[0, 0], torch.tensor([-1.0, 0.0, 127.0 / 128.0]))
    per = Normalize(mean=[0, 10, 20], std=[1, 2, 4])({"img": torch.full((2, 6, 1, 1), 20.0)})
    assert per["img"][0, :, 0, 0].tolist() == [20.0, 5.0, 0.0, 20.0, 5.0, 0.0]
    with pytest.raises(ValueError, match="unknown interface 'ColorJitterX'; supported: Normalize"):
        TorchVisionAdapter(interface="ColorJitterX")
    with pytest.raises(TypeError, match="use ToTensor"):
        Normalize(0, 1)({"img": [np.zeros((2, 2, 3))]})
    built = build_from_registry(
        dict(type="TorchVisionAdapter", interface="Normalize", mean=1, std=2)
    )
    assert built({"img": torch.ones(3, 1, 1)})["img"].sum().item() == 0.0


def test_scale_values():
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(2, 2, 8, 8).contiguous()
    out = Scale(scales=(0.5, 0.25), mode="bilinear")(
        {"gt_flow": ramp, "img": torch.zeros(2, 6, 8, 8)}
    )
    levels = out["gt_flow"]
    assert isinstance(levels, list) and [tuple(x.shape) for x in levels] == [
        (2, 2, 4, 4),
        (2, 2, 2, 2),
    ]
    # bilinear, align_corners=False: samples at x = 0.5, 2.5, 4.5, 6.5, then * 0.5
    torch.testing.assert_close(levels[0][0, 0, 0], torch.tensor([0.25, 1.25, 2.25, 3.25]))
    torch.testing.assert_close(levels[1][1, 1, 1], torch.tensor([1.5 * 0.25, 5.5 * 0.25]))
    assert out["img"].shape == (2, 6, 8, 8)
    raw = Scale(scales=[0.5], mode=InterpolationMode.NEAREST, mul_scale=False)({"gt_flow": ramp[0]})
    assert raw["gt_flow"][0].shape == (2, 4, 4) and raw["gt_flow"][0][0, 0].tolist() == [0, 2, 4, 6]
    seed_scales = tuple(1 / np.array([4, 8, 16, 32, 64]))
    many = Scale(scales=seed_scales)({"gt_flow": torch.full((1, 2, 64, 64), 8.0)})["gt_flow"]
    assert [lvl.shape[-1] for lvl in many] == [16, 8, 4, 2, 1]
    assert [lvl.mean().item() for lvl in many] == [2.0, 1.0, 0.5, 0.25, 0.125]


def test_interpolation_mode():
    assert interpolation_mode(InterpolationMode.BILINEAR) == "bilinear"
    assert interpolation_mode("NEAREST") == "nearest"
    with pytest.raises(ValueError, match="unknown interpolation 'area'"):
        interpolation_mode("area")


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_seed_batch_pipeline_on_device(train_lmdb, device):
    """The seed's train transforms in the workers, then its batch transforms on ``device``."""
    from hat.data.collates import collate_2d
    from hat.data.datasets import FlyingChairs

    sample_cfg = [
        dict(type="RandomCrop", size=(48, 64)),
        dict(type="RandomFlip", px=0.5, py=0.5),
        dict(type="ToTensor", to_yuv=False),
        dict(
            type="SegRandomAffine",
            degrees=0,
            translate=(0.05, 0.05),
            scale=(1.0, 1.0),
            interpolation=InterpolationMode.BILINEAR,
            label_fill_value=0,
            translate_p=0.5,
            scale_p=0.0,
        ),
        dict(type="FlowRandomAffineScale", scale_p=0.5, scale_r=0.05),
    ]
    ds = build_from_registry(dict(type="FlyingChairs", data_path=train_lmdb, transforms=sample_cfg))
    assert isinstance(ds, FlyingChairs)
    batch = collate_2d([ds[i] for i in range(4)])
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    batch_cfg = [
        dict(type="BgrToYuv444", rgb_input=True),
        dict(type="TorchVisionAdapter", interface="Normalize", mean=128.0, std=128.0),
        dict(type="Scale", scales=tuple(1 / np.array([4, 8, 16])), mode="bilinear"),
    ]
    for t in build_from_registry(batch_cfg):
        batch = t(batch)
    assert batch["img"].shape == (4, 6, 48, 64) and batch["img"].device.type == device
    assert batch["img"].min() >= -1.0 and batch["img"].max() <= 127 / 128
    assert [tuple(g.shape) for g in batch["gt_flow"]] == [
        (4, 2, 12, 16),
        (4, 2, 6, 8),
        (4, 2, 3, 4),
    ]
    # device-side geometric transforms on the batch
    from hat.data.transforms import FlowRandomAffineScale, RandomFlip, SegRandomAffine

    flow = batch["gt_flow"][0]
    small = {"img": batch["img"][:, :, :12, :16], "gt_flow": flow}
    for t in (RandomFlip(0.5, 0.5), SegRandomAffine(degrees=5), FlowRandomAffineScale(1.0, 0.1)):
        out = t(small)
        assert out["img"].device.type == device and out["gt_flow"].shape == flow.shape


def test_hwc_to_chw_layouts_and_dtypes():
    from hat.data.transforms.functional import hwc_to_chw

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    flow = rng.normal(size=(9, 11, 2)).astype(np.float32)
    gray = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    views = [img[:, ::-1], img[2:7, 1:10], img[::2]]  # flipped, cropped, strided rows
    for v in views:
        expect = np.moveaxis(v, 2, 0)
        np.testing.assert_array_equal(hwc_to_chw([v], np.uint8), expect)
        got = hwc_to_chw([v])
        assert got.dtype == np.float32 and np.array_equal(got, expect.astype(np.float32))
    both = hwc_to_chw([img, gray, img[..., :1]], np.uint8)
    assert both.shape == (5, 9, 11) and both.flags.c_contiguous
    np.testing.assert_array_equal(both[3], gray)
    np.testing.assert_array_equal(both[4], img[..., 0])
    np.testing.assert_array_equal(hwc_to_chw([flow]), np.moveaxis(flow, 2, 0))
    f64 = flow.astype(np.float64)  # not a cv2 dtype: numpy path
    np.testing.assert_array_equal(hwc_to_chw([f64], np.float64), np.moveaxis(f64, 2, 0))
    with pytest.raises(ValueError, match=r"expected \(9, 11\)"):
        hwc_to_chw([img, img[:5]])
