"""nuScenes raw reader: official and custom splits, the tables with their reference errors, key
frames with cameras, poses and boxes (velocity checked by hand), ego and global boxes agreeing."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import nuscenes_fixture  # tests/data is on sys.path (pytest's rootdir-less import mode)
import pytest
from nuscenes_fixture import VERSION, car_position, ego_pose_at

from hat.data.errors import CorruptFileError
from hat.data.readers.nuscenes_boxes import box_velocity, boxes_in_frame
from hat.data.readers.nuscenes_constants import DETECTION_CLASSES, NUSCENES_CAMERAS
from hat.data.readers.nuscenes_geometry import pose_matrix, quaternion_matrix
from hat.data.readers.nuscenes_layout import NuscenesLayout
from hat.data.readers.nuscenes_splits import SPLITS, split_scene_names
from hat.data.readers.nuscenes_tables import TABLE_NAMES, NuscenesTables

nuscenes_root = nuscenes_fixture.nuscenes_root
nuscenes_copy = nuscenes_fixture.nuscenes_copy


def _edit_table(root: str, table: str, edit) -> None:
    path = os.path.join(root, VERSION, f"{table}.json")
    with open(path) as f:
        rows = json.load(f)
    edit(rows)
    with open(path, "w") as f:
        json.dump(rows, f)


# --- splits ---------------------------------------------------------------------------------
def test_official_splits_match_the_devkit_lists():
    sizes = {name: len(names) for name, names in SPLITS.items()}
    assert sizes == {"train": 700, "val": 150, "test": 150, "mini_train": 8, "mini_val": 2}
    everything = set(SPLITS["train"]) | set(SPLITS["val"]) | set(SPLITS["test"])
    assert len(everything) == 1000  # the devkit's own check: disjoint and complete
    assert set(SPLITS["mini_train"]) | set(SPLITS["mini_val"]) <= everything
    assert SPLITS["mini_val"] == ("scene-0103", "scene-0916")
    assert SPLITS["val"][:3] == ("scene-0003", "scene-0012", "scene-0013")
    assert SPLITS["train"][-1] == "scene-1110" and "scene-1103" not in SPLITS["train"]


def test_split_must_belong_to_the_version(tmp_path):
    assert split_scene_names("train", tmp_path, "v1.0-trainval") == SPLITS["train"]
    with pytest.raises(ValueError, match="'train' belongs to v1.0-trainval, not .*v1.0-mini"):
        split_scene_names("train", tmp_path, "v1.0-mini")
    with pytest.raises(ValueError, match="unknown nuScenes split 'night'.*splits.json"):
        split_scene_names("night", tmp_path, "v1.0-mini")


def test_custom_split_file(tmp_path):
    folder = tmp_path / "v1.0-mini"
    folder.mkdir()
    (folder / "splits.json").write_text(json.dumps({"night": ["scene-0061"], "bad": "x"}))
    assert split_scene_names("night", tmp_path, "v1.0-mini") == ("scene-0061",)
    with pytest.raises(ValueError, match="'bad' must be a list of scene names"):
        split_scene_names("bad", tmp_path, "v1.0-mini")
    with pytest.raises(ValueError, match=r"custom split 'rain' not found .*\['bad', 'night'\]"):
        split_scene_names("rain", tmp_path, "v1.0-mini")


# --- tables ---------------------------------------------------------------------------------
def test_tables_index_every_token(nuscenes_root):
    tables = NuscenesTables(nuscenes_root, VERSION)
    assert set(tables) == set(TABLE_NAMES) and len(TABLE_NAMES) == 13
    assert len(tables.rows("sample")) == 8
    assert tables.get("sensor", "sensor7")["channel"] == "RADAR_FRONT"


def test_missing_reference_names_the_table_file_and_token(nuscenes_copy):
    def edit(rows):
        rows[0]["calibrated_sensor_token"] = "xyz"

    _edit_table(nuscenes_copy, "sample_data", edit)
    with pytest.raises(CorruptFileError) as err:
        NuscenesLayout(nuscenes_copy, VERSION)
    assert str(err.value) == (
        "sample_data 'sd_s0_0_0' references calibrated_sensor 'xyz' which is not in "
        "v1.0-mini/calibrated_sensor.json"
    )


def test_missing_table_and_broken_json_are_named(nuscenes_copy):
    path = os.path.join(nuscenes_copy, VERSION, "visibility.json")
    with open(path, "w") as f:
        f.write("[{")
    with pytest.raises(CorruptFileError, match="visibility.json: not a JSON table"):
        NuscenesTables(nuscenes_copy, VERSION)
    os.remove(path)
    with pytest.raises(FileNotFoundError, match="nuScenes table not found: .*visibility.json"):
        NuscenesTables(nuscenes_copy, VERSION)


def test_sample_without_a_camera_is_named(nuscenes_copy):
    _edit_table(nuscenes_copy, "sample_data", lambda rows: rows.pop(3))  # s0_0 CAM_BACK_LEFT
    layout = NuscenesLayout(nuscenes_copy, VERSION)
    with pytest.raises(CorruptFileError, match="sample 's0_0' has no key frame of CAM_BACK_LEFT"):
        layout.frame("s0_0")


# --- key frames -----------------------------------------------------------------------------
def test_key_frames_in_scene_and_time_order(nuscenes_root):
    layout = NuscenesLayout(nuscenes_root, VERSION)
    assert layout.sample_tokens("mini_train") == ["s0_0", "s0_1", "s0_2", "s1_0", "s1_1"]
    assert layout.sample_tokens("mini_val") == ["s2_0", "s2_1", "s2_2"]
    frame = layout.frame("s2_1")
    assert (frame.scene, frame.location, frame.timestamp) == ("scene-0103", "singapore-onenorth",
                                                              9_500_000)  # fmt: skip
    # cameras in the contract's order; the non-key CAM_FRONT sweep is ignored
    assert [c.channel for c in frame.cameras] == list(NUSCENES_CAMERAS)
    front = frame.cameras[1]
    stamp = 9_500_000 + 7_000 * 1  # the fixture's CAM_FRONT fires 7 ms after the sample
    assert front.timestamp == stamp and front.filename.startswith("samples/CAM_FRONT/")
    np.testing.assert_allclose(front.ego2global, pose_matrix(*ego_pose_at(stamp)))
    np.testing.assert_array_equal(front.intrinsic, [[41, 0, 24], [0, 41, 16], [0, 0, 1]])
    # the frame's pose is LIDAR_TOP's (sensor 6)
    np.testing.assert_allclose(frame.ego2global, pose_matrix(*ego_pose_at(9_500_000 + 42_000)))
    assert frame.lidar_timestamp == 9_500_000 + 42_000


def test_boxes_keep_detection_classes_with_their_fields(nuscenes_root):
    boxes = NuscenesLayout(nuscenes_root, VERSION).frame("s0_0").boxes
    # car, barrier; the animal is not a detection class
    assert boxes.tokens == ["car_0", "barrier_0"]
    assert [DETECTION_CLASSES[i] for i in boxes.labels] == ["car", "barrier"]
    assert boxes.attributes == ["vehicle.moving", ""]
    np.testing.assert_array_equal(boxes.visibility, [4, 3])
    np.testing.assert_array_equal(boxes.num_lidar_pts, [120, 0])
    np.testing.assert_array_equal(boxes.num_radar_pts, [3, 0])
    assert boxes.instance_tokens == ["inst_car", "inst_barrier"]
    np.testing.assert_array_equal(boxes.size[0], [1.9, 4.6, 1.6])


def test_velocity_is_the_devkit_box_velocity_by_hand(nuscenes_root):
    layout = NuscenesLayout(nuscenes_root, VERSION)
    t0, t1, t2 = 1_000_000, 1_500_000, 2_000_000
    p0, p1, p2 = (np.array(car_position(t)) for t in (t0, t1, t2))
    # first frame: one-sided (next - current) / 0.5 s; x = 110 + 3t + t^2 -> (5.5, 1, 0)
    v0 = layout.frame("s0_0").boxes.velocity[0]
    np.testing.assert_allclose(v0, (p1 - p0) / 0.5, rtol=0, atol=1e-9)
    np.testing.assert_allclose(v0, [5.5, 1.0, 0.0], atol=1e-9)
    # middle frame: centred (next - prev) / 1 s -> (6, 1, 0), not either one-sided difference
    np.testing.assert_allclose(layout.frame("s0_1").boxes.velocity[0], [6.0, 1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(layout.frame("s0_2").boxes.velocity[0], (p2 - p1) / 0.5, atol=1e-9)
    # a single annotation (pedestrian) and neighbours 2 s apart (bus) have no estimate
    assert np.isnan(layout.frame("s0_1").boxes.velocity[1]).all()
    assert np.isnan(layout.frame("s1_0").boxes.velocity).all()
    # the same rule straight: 1.5 s one-sided is kept, 3 s centred is kept, 3.1 s is not
    a, b = np.zeros(3), np.array([3.0, 0.0, 0.0])
    np.testing.assert_allclose(box_velocity(a, b, 0, 1_500_000, False, True), [2, 0, 0])
    np.testing.assert_allclose(box_velocity(a, b, 0, 3_000_000, True, True), [1, 0, 0])
    assert np.isnan(box_velocity(a, b, 0, 3_100_000, True, True)).all()
    assert np.isnan(box_velocity(a, b, 0, 1_600_000, True, False)).all()


def test_frames_ignore_files_that_are_not_key_frame_images(nuscenes_root):
    layout = NuscenesLayout(nuscenes_root, VERSION)
    frames = layout.frames("mini_val")
    assert layout.missing_images(frames) == []  # sweeps are not looked for
    assert not os.path.exists(os.path.join(nuscenes_root, "sweeps"))


def test_quaternion_matrix_normalises_and_matches_a_yaw_rotation():
    yaw = 0.7
    rot = quaternion_matrix([2 * math.cos(yaw / 2), 0, 0, 2 * math.sin(yaw / 2)])
    c, s = math.cos(yaw), math.sin(yaw)
    np.testing.assert_allclose(rot, [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-12)


def test_ego_and_global_boxes_agree(nuscenes_root):
    frame = NuscenesLayout(nuscenes_root, VERSION).frame("s0_1")
    world = frame.boxes.global_boxes()
    ego = boxes_in_frame(frame.boxes, frame.ego2global)
    rot, trans = frame.ego2global[:3, :3], frame.ego2global[:3, 3]
    np.testing.assert_allclose(ego[:, :3] @ rot.T + trans, world[:, :3], atol=1e-9)
    np.testing.assert_array_equal(ego[:, 3:6], world[:, 3:6])
    # the fixture turns only about z: ego yaw = box yaw - ego heading at LIDAR_TOP's time
    heading = 0.1 + 0.05 * (1_500_000 + 42_000) * 1e-6
    np.testing.assert_allclose(ego[0, 6], 0.31 - heading, atol=1e-12)
    np.testing.assert_allclose(world[0, 6], 0.31, atol=1e-12)
    # velocity: rotated only, NaN kept
    np.testing.assert_allclose(np.r_[ego[0, 7:9], 0] @ rot.T, np.r_[world[0, 7:9], 0], atol=1e-9)
    assert np.isnan(ego[1, 7:9]).all() and np.isnan(world[1, 7:9]).all()
