"""Sequence transforms: one random draw per clip applied to every frame; boxes follow the image
(clipped; boxes leaving the image dropped with their ids)."""

import numpy as np
import pytest
import torch

from hat.data.sample_seeding import seeded_rngs
from hat.data.transforms.color import BgrToYuv444
from hat.data.transforms.compose import Compose
from hat.data.transforms.seq_crop import SeqRandomSizeCrop, crop_frame
from hat.data.transforms.seq_flip import SeqRandomFlip
from hat.data.transforms.seq_frames import SeqBgrToYuv444, SeqNormalize, SeqToTensor
from hat.data.transforms.seq_resize import SeqResize, resized_size
from hat.data.transforms.seq_select import RandomSelectOne
from hat.registry import build_from_registry

H, W = 40, 60
BOXES = np.array([[10, 5, 20, 25], [40, 10, 58, 30], [0, 30, 6, 40]], np.float32)


def _frame(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "img": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "gt_bboxes": BOXES.copy(),
        "gt_ids": np.array([7, 8, 9], np.int64),
        "gt_classes": np.array([1, 1, 1], np.int64),
        "seq_name": "MOT17-02-FRCNN",
        "frame_id": 1,
        "ori_shape": np.array([H, W], np.int64),
    }


def _clip(n: int = 3, same: bool = True) -> dict:
    return {"frames": [_frame(0 if same else k) for k in range(n)]}


MOTR_TRAIN = [
    dict(type="SeqRandomFlip", px=0.5),
    dict(
        type="RandomSelectOne",
        p=1,
        transforms=[
            dict(type="SeqResize", img_scale=[(32, 90), (36, 90), (48, 90)]),
            [
                dict(type="SeqResize", img_scale=[(30, 9999), (36, 9999)]),
                dict(type="SeqRandomSizeCrop", min_size=16, max_size=30),
                dict(type="SeqResize", img_scale=[(32, 90), (48, 90)], divisor=2),
            ],
        ],
    ),
    dict(type="SeqToTensor"),
    dict(type="SeqBgrToYuv444", rgb_input=True),
    dict(type="SeqNormalize", mean=128.0, std=128.0),
]


def test_the_training_pipeline_treats_every_frame_alike():
    """The same frame three times in a clip stays the same three times, whatever is drawn."""
    pipeline = Compose([build_from_registry(t) for t in MOTR_TRAIN])
    shapes = set()
    for seed in range(30):
        with seeded_rngs(seed):
            frames = pipeline(_clip(3))["frames"]
        for f in frames[1:]:
            torch.testing.assert_close(f["img"], frames[0]["img"], rtol=0, atol=0)
            torch.testing.assert_close(f["gt_bboxes"], frames[0]["gt_bboxes"], rtol=0, atol=0)
            assert f["gt_ids"].tolist() == frames[0]["gt_ids"].tolist()
        img = frames[0]["img"]
        assert img.dtype == torch.float32 and img.shape[0] == 3
        assert float(img.abs().max()) <= 1.0
        boxes = frames[0]["gt_bboxes"]
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes[:, 0::2] <= img.shape[2]).all() and (boxes[:, 1::2] <= img.shape[1]).all()
        shapes.add(tuple(img.shape))
    assert len(shapes) > 2  # the draws differ between clips


def test_flip_mirrors_image_and_boxes_of_all_frames():
    clip = _clip(3, same=False)
    out = SeqRandomFlip(px=1.0)(clip)
    for before, after in zip(clip["frames"], out["frames"], strict=True):
        np.testing.assert_array_equal(after["img"], before["img"][:, ::-1])
        np.testing.assert_array_equal(
            after["gt_bboxes"], [[40, 5, 50, 25], [2, 10, 20, 30], [54, 30, 60, 40]]
        )
    back = SeqRandomFlip(px=1.0)(out)
    np.testing.assert_array_equal(back["frames"][1]["img"], clip["frames"][1]["img"])
    np.testing.assert_array_equal(back["frames"][1]["gt_bboxes"], BOXES)
    vertical = SeqRandomFlip(px=0.0, py=1.0)(clip)["frames"][0]
    np.testing.assert_array_equal(vertical["gt_bboxes"][0], [10, 15, 20, 35])
    tensor_clip = {"frames": [{"img": torch.arange(6.0).view(1, 2, 3)}]}
    assert SeqRandomFlip(px=1.0)(tensor_clip)["frames"][0]["img"].flatten().tolist() == [
        2, 1, 0, 5, 4, 3,
    ]  # fmt: skip


def test_flip_draws_once_per_clip():
    flip = SeqRandomFlip(px=0.5)
    clip = _clip(4)
    flipped = 0
    for seed in range(40):
        with seeded_rngs(seed):
            frames = flip(clip)["frames"]
        states = {bool(np.array_equal(f["img"], clip["frames"][0]["img"])) for f in frames}
        assert len(states) == 1  # all frames flipped, or none
        flipped += not states.pop()
    assert 5 < flipped < 35


def test_crop_shifts_clips_and_drops_boxes_with_their_ids():
    frame = crop_frame(_frame(), top=8, left=12, height=20, width=36)
    np.testing.assert_array_equal(frame["img"], _frame()["img"][8:28, 12:48])
    # box 1 clipped at the crop's left edge, box 2 at its right/bottom, box 3 left entirely
    np.testing.assert_array_equal(frame["gt_bboxes"], [[0, 0, 8, 17], [28, 2, 36, 20]])
    assert frame["gt_ids"].tolist() == [7, 8] and frame["gt_classes"].tolist() == [1, 1]
    # HAT's rm_neg_coords=False / filter_area=False: boxes only shifted, all kept
    kept = crop_frame(_frame(), 8, 12, 20, 36, clip=False, drop_outside=False)
    np.testing.assert_array_equal(kept["gt_bboxes"], BOXES - [12, 8, 12, 8])
    assert kept["gt_ids"].tolist() == [7, 8, 9]
    clipped = crop_frame(_frame(), 8, 12, 20, 36, clip=True, drop_outside=False)
    np.testing.assert_array_equal(clipped["gt_bboxes"][2], [0, 20, 0, 20])
    crop = SeqRandomSizeCrop(min_size=10, max_size=30)
    for seed in range(20):
        with seeded_rngs(seed):
            frames = crop(_clip(2))["frames"]
        h, w = frames[0]["img"].shape[:2]
        assert 10 <= h <= 30 and 10 <= w <= 30
        np.testing.assert_array_equal(frames[0]["img"], frames[1]["img"])


def test_resize_sizes_and_boxes():
    assert resized_size(1080, 1920, (800, 1333), keep_ratio=True) == (750, 1333)
    assert resized_size(1080, 1920, (608, 1536), keep_ratio=True) == (608, 1081)
    assert resized_size(1080, 1920, (608, 1536), keep_ratio=True, divisor=2) == (608, 1080)
    assert resized_size(480, 640, (800, 1422), keep_ratio=False) == (800, 1422)
    out = SeqResize(img_scale=(80, 1000))(_clip(2))["frames"]
    assert out[0]["img"].shape == (80, 120, 3)
    np.testing.assert_array_equal(out[1]["gt_bboxes"], BOXES * 2)
    out = SeqResize(img_scale=(20, 20), keep_ratio=False)(_clip(1))["frames"][0]
    np.testing.assert_allclose(out["gt_bboxes"][0], [10 / 3, 2.5, 20 / 3, 12.5], rtol=1e-6)


def test_resize_boxes_outside_the_image():
    frame = _frame()
    frame["gt_bboxes"] = np.array([[-4, 2, 10, 12], [70, 0, 90, 10], [0, 0, 60, 40]], np.float32)
    out = SeqResize(img_scale=(80, 1000))({"frames": [frame]})["frames"][0]
    np.testing.assert_array_equal(out["gt_bboxes"], [[0, 4, 20, 24], [0, 0, 120, 80]])
    assert out["gt_ids"].tolist() == [7, 9]
    hat_like = SeqResize(img_scale=(80, 1000), rm_neg_coords=False)({"frames": [frame]})
    np.testing.assert_array_equal(hat_like["frames"][0]["gt_bboxes"], frame["gt_bboxes"] * 2)


def test_resize_picks_one_scale_per_clip():
    resize = SeqResize(img_scale=[(20, 100), (30, 100), (40, 100)], multiscale_mode="value")
    heights = set()
    for seed in range(20):
        with seeded_rngs(seed):
            frames = resize(_clip(3))["frames"]
        assert len({f["img"].shape for f in frames}) == 1
        heights.add(frames[0]["img"].shape[0])
    assert heights == {20, 30, 40}


def test_random_select_one():
    first, second = SeqResize(img_scale=(20, 100)), SeqResize(img_scale=(80, 1000))
    assert RandomSelectOne([first, second], p=0.0)(_clip(1))["frames"][0]["img"].shape == (H, W, 3)
    always_second = RandomSelectOne([first, second], p=1.0, p_trans=[0, 1])
    for seed in range(5):
        with seeded_rngs(seed):
            assert always_second(_clip(1))["frames"][0]["img"].shape == (80, 120, 3)
    with pytest.raises(ValueError, match=r"p_trans must be 2 non-negative weights"):
        RandomSelectOne([first, second], p_trans=[1.0])


def test_per_frame_transforms_match_the_single_image_ones():
    clip = SeqToTensor()(_clip(2, same=False))
    frame = clip["frames"][1]
    assert frame["img"].shape == (3, H, W) and frame["img"].dtype == torch.uint8
    assert frame["gt_bboxes"].dtype == torch.float32 and frame["gt_ids"].dtype == torch.int64
    assert frame["seq_name"] == "MOT17-02-FRCNN" and frame["frame_id"] == 1
    torch.testing.assert_close(
        frame["img"], torch.from_numpy(_frame(1)["img"]).permute(2, 0, 1), rtol=0, atol=0
    )
    yuv = SeqBgrToYuv444(rgb_input=True)(clip)["frames"][1]["img"]
    torch.testing.assert_close(yuv, BgrToYuv444(rgb_input=True)({"img": frame["img"]})["img"])
    norm = SeqNormalize(mean=128.0, std=64.0)({"frames": [{"img": torch.full((3, 2, 2), 0.0)}]})
    assert norm["frames"][0]["img"].unique().tolist() == [-2.0]


def test_not_a_clip_is_refused_naming_the_transform():
    with pytest.raises(TypeError, match=r"SeqResize: expected a clip \{'frames'"):
        SeqResize(img_scale=(20, 20))({"img": np.zeros((4, 4, 3), np.uint8)})
    with pytest.raises(TypeError, match=r"SeqRandomSizeCrop: 'img' must be an \(H, W, C\) array"):
        SeqRandomSizeCrop(2, 3)(SeqToTensor()(_clip(1)))
