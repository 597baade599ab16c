"""nuScenes datasets: the packed record decodes to the same sample as the raw files, images as PIL
decodes them, boxes and matrices as the tables give them, the map target from ``metas``, the
registry and ``collate_nuscenes`` in a DataLoader."""

from __future__ import annotations

import os

import numpy as np
import nuscenes_fixture  # tests/data is on sys.path (pytest's rootdir-less import mode)
import pytest
import torch
from nuscenes_fixture import DIVIDER_Y, VERSION, ego_pose_at
from PIL import Image

from hat.data.collates import collate_nuscenes
from hat.data.datasets.nuscenes import NuscenesDataset, NuscenesFromImage
from hat.data.packers.nuscenes import NuscenesPacker
from hat.data.readers.nuscenes_constants import DETECTION_CLASSES, NUSCENES_CAMERAS
from hat.data.readers.nuscenes_geometry import pose_matrix
from hat.registry import OBJECT_REGISTRY, build_from_registry

nuscenes_root = nuscenes_fixture.nuscenes_root

MAP_SIZE = (15, 30, 0.15)  # the recipe's grid: 200 x 400 cells


@pytest.fixture(scope="module")
def packed(nuscenes_root, tmp_path_factory) -> str:
    target = str(tmp_path_factory.mktemp("packed") / "nuscenes")
    NuscenesPacker(nuscenes_root, target, "mini_train", 0, version=VERSION)()
    return target


def _lmdb(packed: str) -> str:
    return os.path.join(packed, VERSION, "mini_train_lmdb")


def _assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        if key == "img":
            assert len(a[key]) == len(b[key]) == 6
            for x, y in zip(a[key], b[key]):
                np.testing.assert_array_equal(x, y)
        elif isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype, key
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key], key


def test_packed_sample_equals_the_raw_files(packed, nuscenes_root):
    lmdb_set = NuscenesDataset(_lmdb(packed))
    raw_set = NuscenesFromImage(nuscenes_root, VERSION, "mini_train")
    assert len(lmdb_set) == len(raw_set) == 5
    for i in range(5):
        _assert_same(lmdb_set[i], raw_set[i])


def test_sample_contents(packed, nuscenes_root):
    s = NuscenesDataset(_lmdb(packed))[1]  # s0_1: the car and the pedestrian
    assert (s["sample_token"], s["scene"], s["location"], s["timestamp"]) == (
        "s0_1", "scene-0061", "boston-seaport", 1_500_000)  # fmt: skip
    assert s["cam_names"] == list(NUSCENES_CAMERAS)
    for name, img in zip(s["cam_names"], s["img"]):
        assert img.shape == (32, 48, 3) and img.dtype == np.uint8 and img.flags.writeable
        stamp = 1_500_000 + 7_000 * NUSCENES_CAMERAS.index(name)
        path = f"samples/{name}/n015-2018-07-24-11-22-45+0800__{name}__{stamp}.jpg"
        with Image.open(os.path.join(nuscenes_root, path)) as pil:
            np.testing.assert_array_equal(img, np.asarray(pil.convert("RGB")))
    np.testing.assert_allclose(s["ego2global"], pose_matrix(*ego_pose_at(1_542_000)), atol=1e-12)
    assert s["intrinsics"].shape == (6, 3, 3) and s["intrinsics"][2, 0, 0] == 42.0
    assert s["sensor2ego"].shape == s["cam_ego2global"].shape == (6, 4, 4)
    assert [DETECTION_CLASSES[i] for i in s["gt_labels"]] == ["car", "pedestrian"]
    assert s["gt_boxes"].shape == s["gt_boxes_global"].shape == (2, 9)
    np.testing.assert_allclose(s["gt_boxes_global"][0, 7:9], [6.0, 1.0], atol=1e-9)
    # the pedestrian has no velocity estimate: 0 and flagged
    np.testing.assert_array_equal(s["gt_velocity_valid"], [True, False])
    np.testing.assert_array_equal(s["gt_boxes"][1, 7:9], [0.0, 0.0])
    assert s["gt_attributes"] == ["vehicle.moving", "pedestrian.moving"]
    np.testing.assert_array_equal(s["gt_visibility"], [4, 2])
    assert s["gt_instance_tokens"] == ["inst_car", "inst_ped"]
    assert "gt_seg_mask" not in s


def test_map_target_from_metas(packed):
    ds = NuscenesDataset(_lmdb(packed), map_size=MAP_SIZE, map_path=os.path.join(packed, "metas"))
    s = ds[0]
    mask = s["gt_seg_mask"]
    assert mask.shape == (200, 400) and mask.dtype == np.int64
    assert set(np.unique(mask)) == {0, 1}  # the one lane divider of the Boston map
    # the divider runs along global y = DIVIDER_Y; where it crosses the ego's y axis (column 200:
    # ego x = 0) it is y0 = (DIVIDER_Y - t_y) / cos(heading) to the left: row (y0 + 15) / 0.15
    heading = np.arctan2(s["ego2global"][1, 0], s["ego2global"][0, 0])
    y0 = (DIVIDER_Y - s["ego2global"][1, 3]) / np.cos(heading)
    rows = np.nonzero(mask[:, 200] == 1)[0]
    assert 0 < y0 < 15 and len(rows) and abs(rows.mean() - (y0 + 15) / 0.15) < 3
    with pytest.raises(ValueError, match="map_size is required with map_path"):
        NuscenesDataset(_lmdb(packed), map_path=os.path.join(packed, "metas"))


def test_registry_and_collate_in_a_dataloader(packed):
    ds = build_from_registry(
        {"type": "NuscenesDataset", "data_path": _lmdb(packed), "bev_size": (51.2, 51.2, 0.8)}
    )
    assert OBJECT_REGISTRY.get("NuscenesFromImage") is NuscenesFromImage
    assert ds.bev_size == (51.2, 51.2, 0.8) and ds.CLASSES == DETECTION_CLASSES
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_nuscenes)
    batch = next(iter(loader))
    assert batch["img"].shape == (12, 3, 32, 48) and batch["img"].dtype == torch.uint8
    # views of sample b are rows 6b .. 6b+5, channels first
    torch.testing.assert_close(batch["img"][7], torch.from_numpy(ds[1]["img"][1]).permute(2, 0, 1))
    assert batch["intrinsics"].shape == (2, 6, 3, 3) and batch["ego2global"].shape == (2, 4, 4)
    assert [b.shape for b in batch["gt_boxes"]] == [(2, 9), (2, 9)]
    assert batch["gt_labels"][0].tolist() == [0, 9]  # car, barrier
    assert batch["sample_token"] == ["s0_0", "s0_1"]
    assert batch["cam_names"] == [list(NUSCENES_CAMERAS)] * 2
    assert batch["gt_attributes"] == [
        ["vehicle.moving", ""],
        ["vehicle.moving", "pedestrian.moving"],
    ]
    assert batch["timestamp"].tolist() == [1_000_000, 1_500_000]


def test_collate_rejects_views_of_different_sizes(packed):
    ds = NuscenesDataset(_lmdb(packed))
    a, b = ds[0], ds[1]
    b["img"] = [img[:16] for img in b["img"]]
    with pytest.raises(ValueError, match="camera views of different shapes"):
        collate_nuscenes([a, b])


def test_bad_grid_arguments_are_named(packed):
    with pytest.raises(ValueError, match="bev_size must be"):
        NuscenesDataset(_lmdb(packed), bev_size=(51.2, 0.8))
