"""Segmentation transforms on batched tensors (as the batch processor runs them)."""

import numpy as np
import pytest
import torch

from hat.data.transforms import (
    InterpolationMode,
    LabelRemap,
    PILToTensor,
    Scale,
    SegOneHot,
    SegRandomAffine,
    SegResize,
)
from hat.registry import build_from_registry


def _batch(b=2, h=8, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (b, 3, h, w), generator=g).to(torch.uint8)
    seg = torch.randint(0, 19, (b, 1, h, w), generator=g).to(torch.uint8)
    seg[:, :, 0, 0] = 255
    return {"img": img, "gt_seg": seg}


def test_pil_to_tensor_layouts():
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    seg = np.arange(20, dtype=np.uint8).reshape(4, 5)
    out = PILToTensor()({"img": img, "gt_seg": seg, "img_name": "a"})
    assert out["img"].shape == (3, 4, 5) and out["img"].dtype == torch.uint8
    assert out["gt_seg"].shape == (1, 4, 5) and out["gt_seg"].dtype == torch.uint8
    assert out["img"][1].tolist() == img[..., 1].tolist()
    assert out["gt_seg"][0].tolist() == seg.tolist() and out["img_name"] == "a"


def test_seg_one_hot_batch_and_sample():
    batch = _batch()
    out = SegOneHot(num_classes=19)(batch)["gt_seg"]
    assert out.shape == (2, 19, 8, 12) and out.dtype == torch.float32
    seg = batch["gt_seg"][:, 0].long()
    valid = seg != 255
    assert (out.sum(1) == valid.float()).all()  # ignored pixels: all zeros
    assert (out.argmax(1)[valid] == seg[valid]).all()
    single = SegOneHot(19)({"img": batch["img"][0], "gt_seg": batch["gt_seg"][0]})["gt_seg"]
    torch.testing.assert_close(single, out[0])
    flat = SegOneHot(19)({"img": batch["img"], "gt_seg": batch["gt_seg"][:, 0]})["gt_seg"]
    torch.testing.assert_close(flat, out)


def test_seg_resize_labels_are_nearest():
    seg = torch.arange(4 * 6, dtype=torch.uint8).reshape(1, 1, 4, 6).repeat(2, 1, 1, 1)
    big = seg.repeat_interleave(2, -2).repeat_interleave(2, -1)  # (2, 1, 8, 12)
    img = torch.rand(2, 3, 8, 12) * 255
    down = SegResize(size=(4, 6))({"img": img, "gt_seg": big})
    assert down["img"].shape == (2, 3, 4, 6) and down["img"].dtype == torch.float32
    assert torch.equal(down["gt_seg"], seg)  # exactly the blocks, no new values
    up = SegResize(size=(8, 12))({"img": img[:, :, :4, :6], "gt_seg": seg})
    assert torch.equal(up["gt_seg"], big) and up["gt_seg"].dtype == torch.uint8
    odd = SegResize(size=(5, 7))(_batch())
    assert set(odd["gt_seg"].unique().tolist()) <= set(_batch()["gt_seg"].unique().tolist())
    u8 = SegResize(size=(5, 7))(_batch())["img"]
    assert u8.dtype == torch.uint8 and u8.shape == (2, 3, 5, 7)


def test_seg_resize_numpy_sample():
    img = np.full((8, 12, 3), 200, np.uint8)
    seg = np.arange(96, dtype=np.uint8).reshape(8, 12)
    out = SegResize(size=(4, 6))({"img": img, "gt_seg": seg})
    assert out["img"].shape == (4, 6, 3) and out["img"].dtype == np.uint8
    assert (out["img"] == 200).all()
    assert out["gt_seg"].shape == (4, 6) and out["gt_seg"].dtype == np.uint8
    assert set(out["gt_seg"].ravel().tolist()) <= set(seg.ravel().tolist())


def test_seg_resize_one_hot_and_int_size():
    batch = SegOneHot(19)(_batch(h=16, w=24))
    out = SegResize(size=8)(batch)  # smaller edge 8, ratio kept
    assert out["img"].shape == (2, 3, 8, 12) and out["gt_seg"].shape == (2, 19, 8, 12)
    assert set(out["gt_seg"].unique().tolist()) <= {0.0, 1.0}  # still one-hot
    soft = SegResize(size=8, label_interpolation="bilinear")(batch)["gt_seg"]
    assert soft.sum(1).max() <= 1.0 + 1e-5 and ((soft > 0) & (soft < 1)).any()


def test_seg_random_affine_fills_labels_with_255():
    torch.manual_seed(0)
    batch = _batch(h=16, w=16)
    aff = SegRandomAffine(
        degrees=0, scale=(0.5, 0.5), interpolation="bilinear", label_fill_value=255
    )
    out = aff(batch)
    assert out["gt_seg"].shape == batch["gt_seg"].shape and out["gt_seg"].dtype == torch.uint8
    assert (out["gt_seg"][:, :, 0, :] == 255).all() and (out["gt_seg"][:, :, :, -1] == 255).all()
    assert set(out["gt_seg"].unique().tolist()) <= set(batch["gt_seg"].unique().tolist()) | {255}
    onehot = SegOneHot(19)(batch)
    out = SegRandomAffine(scale=(0.5, 0.5), label_fill_value=0)(onehot)["gt_seg"]
    assert (out[:, :, 0, :] == 0).all() and set(out.unique().tolist()) <= {0.0, 1.0}


def test_scale_keeps_integer_labels_nearest():
    seg = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4).repeat_interleave(4, -1)
    seg = seg.repeat_interleave(4, -2)  # (1, 1, 16, 16): 4x4 blocks
    out = Scale(scales=(1.0, 0.25), mode="bilinear")(
        {"img": torch.zeros(1, 3, 16, 16), "gt_seg": seg}
    )["gt_seg"]
    assert torch.equal(out[0], seg) and out[1].dtype == torch.uint8
    assert out[1].flatten().tolist() == list(range(16))
    soft = Scale(scales=(0.5,), mode="bilinear")(SegOneHot(19)(_batch()))["gt_seg"][0]
    assert soft.shape == (2, 19, 4, 6) and soft.sum(1).max() <= 1.0 + 1e-5


def test_seed_batch_pipeline_from_config_names():
    """The seed's batch transforms, built by their registered names, on a uint8 batch."""
    from hat.data.cityscapes_labels import CITYSCAPES_LABLE_MAPPINGS

    cfg = [
        dict(type="LabelRemap", mapping=CITYSCAPES_LABLE_MAPPINGS),
        dict(type="SegOneHot", num_classes=19),
        dict(type="SegResize", size=(64, 128)),
        dict(
            type="SegRandomAffine",
            degrees=0,
            scale=(0.5, 2.0),
            interpolation=InterpolationMode.BILINEAR,
            label_fill_value=0,
        ),
        dict(type="ImageBgrToYuv444", rgb_input=True),
        dict(type="ImageNormalize", mean=128.0, std=128.0),
        dict(type="Scale", scales=tuple(1 / np.array((4, 8, 16, 32, 64))), mode="bilinear"),
    ]
    transforms = build_from_registry(cfg)
    g = torch.Generator().manual_seed(1)
    batch = {
        "img": torch.randint(0, 256, (2, 3, 96, 160), generator=g).to(torch.uint8),
        "gt_seg": torch.randint(0, 34, (2, 1, 96, 160), generator=g).to(torch.uint8),
        "img_name": ["a", "b"],
    }
    for t in transforms:
        batch = t(batch)
    assert batch["img"].shape == (2, 3, 64, 128) and batch["img"].dtype == torch.float32
    assert batch["img"].abs().max() <= 1.0
    shapes = [tuple(level.shape) for level in batch["gt_seg"]]
    assert shapes == [(2, 19, 16, 32), (2, 19, 8, 16), (2, 19, 4, 8), (2, 19, 2, 4), (2, 19, 1, 2)]
    assert all(level.dtype == torch.float32 for level in batch["gt_seg"])


@pytest.mark.parametrize("cls", ["LabelRemap", "SegOneHot", "SegResize", "PILToTensor"])
def test_registered(cls):
    from hat.registry import OBJECT_REGISTRY

    assert cls in OBJECT_REGISTRY
    assert LabelRemap is OBJECT_REGISTRY.get("LabelRemap")
