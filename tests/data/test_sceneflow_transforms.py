"""The seed's SceneFlow pipelines (RandomCrop, ToTensor, BgrToYuv444, Normalize) on stereo items."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hat.data.collates import collate_2d
from hat.data.datasets import SceneFlow
from hat.data.packers.sceneflow import SceneFlowPacker
from hat.data.synthetic.sceneflow import make_sceneflow
from hat.data.transforms import RandomCrop, RandomFlip, ToTensor
from hat.registry import build_from_registry


def _item(h=6, w=10):
    rng = np.random.default_rng(0)
    left, right = (rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2))
    disp = rng.uniform(0, 9, (h, w)).astype(np.float32)
    return {"img": [left, right], "gt_disp": disp, "img_name": "x.png"}


def test_crop_cuts_images_and_disparity_at_one_window():
    item = _item()
    torch.manual_seed(0)
    out = RandomCrop((4, 7))(item)
    left, right, disp = out["img"][0], out["img"][1], out["gt_disp"]
    assert left.shape == right.shape == (4, 7, 3) and disp.shape == (4, 7)
    # locate the window through the (unique, random) disparity values
    top, left_x = (int(v[0]) for v in np.nonzero(item["gt_disp"] == disp[0, 0]))
    np.testing.assert_array_equal(disp, item["gt_disp"][top : top + 4, left_x : left_x + 7])
    np.testing.assert_array_equal(right, item["img"][1][top : top + 4, left_x : left_x + 7])


def test_to_tensor_layout():
    item = _item()
    out = ToTensor(to_yuv=False, use_yuv_v2=False)(item)
    assert out["img"].shape == (6, 6, 10) and out["img"].dtype == torch.uint8
    np.testing.assert_array_equal(out["img"][3:].permute(1, 2, 0).numpy(), item["img"][1])
    assert out["gt_disp"].shape == (1, 6, 10) and out["gt_disp"].dtype == torch.float32
    np.testing.assert_array_equal(out["gt_disp"][0].numpy(), item["gt_disp"])


def test_flip_vertical_follows_horizontal_refused():
    item = _item()
    out = RandomFlip(px=0.0, py=1.0)(item)
    np.testing.assert_array_equal(out["gt_disp"], item["gt_disp"][::-1])
    np.testing.assert_array_equal(out["img"][1], item["img"][1][::-1])
    batch = collate_2d([ToTensor()(item)] * 2)
    flipped = RandomFlip(px=0.0, py=1.0)(batch)
    assert torch.equal(flipped["gt_disp"], batch["gt_disp"].flip(-2))
    with pytest.raises(ValueError, match="horizontal flip of a stereo sample"):
        RandomFlip(px=1.0)(item)


@pytest.fixture(scope="module")
def wide_lmdb(tmp_path_factory) -> str:
    """Two 272x528 pairs: big enough for the seed's 256x512 crop."""
    root = str(tmp_path_factory.mktemp("sf_wide") / "SceneFlow")
    make_sceneflow(root, num_train=2, num_test=0, seed=0, height=272, width=528, max_disp=48)
    SceneFlowPacker(root, root, "train", num_workers=0)()
    return root + "/train_lmdb"


def test_seed_train_pipeline_from_config(wide_lmdb):
    cfg = dict(
        type="SceneFlow",
        data_path=wide_lmdb,
        transforms=[
            dict(type="RandomCrop", size=(256, 512)),
            dict(type="ToTensor", to_yuv=False, use_yuv_v2=False),
            dict(type="BgrToYuv444", rgb_input=True),
            dict(type="TorchVisionAdapter", interface="Normalize", mean=128.0, std=128.0),
        ],
    )
    ds = build_from_registry(cfg)
    assert isinstance(ds, SceneFlow) and len(ds) == 2
    loader = DataLoader(ds, batch_size=2, num_workers=1, collate_fn=collate_2d)
    batch = next(iter(loader))
    assert batch["img"].shape == (2, 6, 256, 512) and batch["img"].dtype == torch.float32
    assert batch["gt_disp"].shape == (2, 1, 256, 512)
    assert -1.0 <= batch["img"].min() and batch["img"].max() < 1.0  # (yuv - 128) / 128
    assert 0 < batch["gt_disp"].mean() < 48 * 1.2
    assert batch["img_name"][1] == "FlyingThings3D/frames_finalpass/TRAIN/A/0000/left/0007.png"
    full = ToTensor()(SceneFlow(wide_lmdb)[0])
    assert full["img"].shape == (6, 272, 528) and full["gt_disp"].shape == (1, 272, 528)
