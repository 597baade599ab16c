"""nuScenes packer: the command's layout (``<target>/<version>/<split>_lmdb`` + ``metas``), records
equal to the raw files, and bad input (missing image, dangling token, malformed map, wrong image)
failing with the file or token named and nothing left at the target."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import nuscenes_fixture  # tests/data is on sys.path (pytest's rootdir-less import mode)
import pytest
from nuscenes_fixture import LOCATIONS, VERSION

from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbReader
from hat.data.packers.nuscenes import NuscenesPacker
from hat.data.readers.nuscenes_boxes import boxes_in_frame
from hat.data.readers.nuscenes_layout import NuscenesLayout

nuscenes_root = nuscenes_fixture.nuscenes_root
nuscenes_copy = nuscenes_fixture.nuscenes_copy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _pack_cli(src: str, target: str, split: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "tools/datasets/nuscenes_packer.py", "--src-data-dir", src,
        "--pack-type", "lmdb", "--target-data-dir", target, "--version", VERSION,
        "--split-name", split, *extra,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.fixture(scope="module")
def packed(nuscenes_root, tmp_path_factory) -> str:
    """Both splits of the hand-made set packed into one target (in this process)."""
    target = str(tmp_path_factory.mktemp("packed") / "nuscenes")
    assert NuscenesPacker(nuscenes_root, target, "mini_train", 0, version=VERSION)() == 5
    assert NuscenesPacker(nuscenes_root, target, "mini_val", 0, version=VERSION)() == 3
    return target


def test_layout_of_the_target(packed, nuscenes_root):
    assert sorted(os.listdir(packed)) == ["metas", VERSION]
    assert sorted(os.listdir(os.path.join(packed, VERSION))) == ["mini_train_lmdb", "mini_val_lmdb"]
    expansion = os.path.join(packed, "metas", "maps", "expansion")
    assert sorted(os.listdir(expansion)) == sorted(f"{loc}.json" for loc in LOCATIONS)
    for name in os.listdir(expansion):
        with open(os.path.join(expansion, name), "rb") as a:
            with open(os.path.join(nuscenes_root, "maps", "expansion", name), "rb") as b:
                assert a.read() == b.read()


@pytest.mark.parametrize("split", ["mini_train", "mini_val"])
def test_records_hold_the_raw_files_and_tables(packed, nuscenes_root, split):
    layout = NuscenesLayout(nuscenes_root, VERSION)
    frames = layout.frames(split)
    reader = LmdbReader(os.path.join(packed, VERSION, f"{split}_lmdb"))
    assert len(reader) == len(frames)
    for i, frame in enumerate(frames):
        rec = reader[i]
        assert rec["schema"] == "hat.nuscenes/1"
        assert (rec["sample_token"], rec["scene"], rec["location"], rec["timestamp"]) == (
            frame.sample_token, frame.scene, frame.location, frame.timestamp)  # fmt: skip
        for view, data in zip(frame.cameras, rec["img"]):
            with open(os.path.join(nuscenes_root, view.filename), "rb") as f:
                assert data == f.read()  # the JPEG as stored
        assert rec["cam_names"] == [c.channel for c in frame.cameras]
        assert rec["img_shapes"] == [[32, 48]] * 6

        def f8(key, shape, rec=rec):
            return np.frombuffer(rec[key], "<f8").reshape(shape)

        np.testing.assert_array_equal(
            f8("intrinsics", (6, 3, 3)), [c.intrinsic for c in frame.cameras]
        )
        np.testing.assert_array_equal(
            f8("sensor2ego", (6, 4, 4)), [c.sensor2ego for c in frame.cameras]
        )
        np.testing.assert_array_equal(
            f8("cam_ego2global", (6, 4, 4)), [c.ego2global for c in frame.cameras]
        )
        np.testing.assert_array_equal(f8("ego2global", (4, 4)), frame.ego2global)
        n = len(frame.boxes)
        assert rec["num_boxes"] == n and rec["gt_annotation_tokens"] == frame.boxes.tokens
        np.testing.assert_array_equal(
            f8("gt_boxes", (n, 9)), boxes_in_frame(frame.boxes, frame.ego2global)
        )
        np.testing.assert_array_equal(f8("gt_boxes_global", (n, 9)), frame.boxes.global_boxes())
        np.testing.assert_array_equal(f8("gt_rotation_global", (n, 4)), frame.boxes.rotation)
        labels = np.frombuffer(rec["gt_labels"], "<i8")
        np.testing.assert_array_equal(labels, frame.boxes.labels)
        assert rec["gt_attributes"] == frame.boxes.attributes


def test_num_samples_and_overwrite(nuscenes_root, tmp_path):
    target = str(tmp_path / "t")
    assert (
        NuscenesPacker(nuscenes_root, target, "mini_train", 0, num_samples=2, version=VERSION)()
        == 2
    )
    with pytest.raises(FileExistsError, match="mini_train_lmdb already exists"):
        NuscenesPacker(nuscenes_root, target, "mini_train", 0, version=VERSION)
    packer = NuscenesPacker(nuscenes_root, target, "mini_train", 0, overwrite=True, version=VERSION)
    assert packer() == 5 and len(LmdbReader(packer.target)) == 5


def test_unknown_split_and_wrong_version(nuscenes_root, tmp_path):
    with pytest.raises(ValueError, match="'val' belongs to v1.0-trainval"):
        NuscenesPacker(nuscenes_root, str(tmp_path / "t"), "val", 0, version=VERSION)
    with pytest.raises(FileNotFoundError, match="version folder not found: .*v1.0-trainval"):
        NuscenesPacker(nuscenes_root, str(tmp_path / "t"), "val", 0, version="v1.0-trainval")
    assert not os.path.exists(tmp_path / "t")


def test_custom_split_of_splits_json(nuscenes_copy, tmp_path):
    with open(os.path.join(nuscenes_copy, VERSION, "splits.json"), "w") as f:
        json.dump({"short": ["scene-0553", "scene-0103"]}, f)
    packer = NuscenesPacker(nuscenes_copy, str(tmp_path / "t"), "short", 0, version=VERSION)
    assert packer() == 5 and packer.target.endswith(f"{VERSION}/short_lmdb")
    # scenes in scene.json order, whatever the order of the list
    assert [LmdbReader(packer.target)[i]["sample_token"] for i in range(5)] == [
        "s1_0", "s1_1", "s2_0", "s2_1", "s2_2"]  # fmt: skip


# --- bad input: the file or token named, nothing written ------------------------------------
def test_missing_camera_image(nuscenes_copy, tmp_path):
    layout = NuscenesLayout(nuscenes_copy, VERSION)
    gone = os.path.join(nuscenes_copy, layout.frame("s2_2").cameras[4].filename)
    os.remove(gone)
    target = str(tmp_path / "out")
    proc = _pack_cli(nuscenes_copy, target, "mini_val", "--num-workers", "0")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"error: nuScenes camera image not found: {gone}",
        "nothing was written to the target",
    ]
    assert not os.path.exists(target)


def test_table_referencing_a_missing_token(nuscenes_copy, tmp_path):
    path = os.path.join(nuscenes_copy, VERSION, "sample_annotation.json")
    with open(path) as f:
        rows = json.load(f)
    rows[0]["instance_token"] = "lost"
    with open(path, "w") as f:
        json.dump(rows, f)
    target = str(tmp_path / "out")
    with pytest.raises(CorruptFileError) as err:
        NuscenesPacker(nuscenes_copy, target, "mini_train", 0, version=VERSION)()
    assert str(err.value) == (
        "sample_annotation 'car_0' references instance 'lost' which is not in "
        "v1.0-mini/instance.json"
    )
    assert not os.path.exists(target)


def test_malformed_map_file(nuscenes_copy, tmp_path):
    path = os.path.join(nuscenes_copy, "maps", "expansion", "singapore-queenstown.json")
    with open(path, "w") as f:
        f.write('{"version": "1.3", "node": [')
    target = str(tmp_path / "out")
    with pytest.raises(CorruptFileError, match=re.escape(f"{path}: not a map-expansion JSON")):
        NuscenesPacker(nuscenes_copy, target, "mini_train", 0, version=VERSION)()
    with open(path, "w") as f:
        json.dump({"version": "1.3", "node": []}, f)
    with pytest.raises(CorruptFileError, match=r"lacks \['line', 'polygon'\]"):
        NuscenesPacker(nuscenes_copy, target, "mini_train", 0, version=VERSION)()
    os.remove(os.path.join(nuscenes_copy, "maps", "expansion", "boston-seaport.json"))
    with pytest.raises(FileNotFoundError, match="map expansion not found: .*boston-seaport.json"):
        NuscenesPacker(nuscenes_copy, target, "mini_train", 0, version=VERSION)()
    assert not os.path.exists(target)


def test_image_that_is_not_what_the_table_says_aborts_the_pack(nuscenes_copy, tmp_path):
    """Found while packing (after the target folders were made): they are removed again."""
    layout = NuscenesLayout(nuscenes_copy, VERSION)
    bad = os.path.join(nuscenes_copy, layout.frame("s0_2").cameras[0].filename)
    with open(bad, "wb") as f:
        f.write(b"not a jpeg")
    target = str(tmp_path / "out")
    packer = NuscenesPacker(nuscenes_copy, target, "mini_train", 0, version=VERSION)
    with pytest.raises(
        CorruptFileError, match=re.escape(f"{bad}: not a readable JPEG image (10 bytes")
    ):
        packer()
    assert not os.path.exists(target)
    # an existing target folder with an earlier pack keeps it, metas included (mini_val's
    # frames are intact in the damaged copy)
    NuscenesPacker(nuscenes_copy, target, "mini_val", 0, version=VERSION)()
    before = sorted(os.listdir(target))
    with pytest.raises(CorruptFileError):
        NuscenesPacker(nuscenes_copy, target, "mini_train", 0, version=VERSION)()
    assert sorted(os.listdir(target)) == before == ["metas", VERSION]
    assert os.listdir(os.path.join(target, VERSION)) == ["mini_val_lmdb"]


# --- the synthetic generator's dataroot, packed by the command with a reader pool ------------
@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> str:
    from hat.data.synthetic.nuscenes import make_nuscenes

    root = str(tmp_path_factory.mktemp("synthetic") / "nuscenes_raw")
    make_nuscenes(root, VERSION, num_train_scenes=1, num_val_scenes=1, seed=3,
                  frames_per_scene=3, height=90, width=160)  # fmt: skip
    return root


def _devkit_velocity(anns: dict, samples: dict, token: str) -> np.ndarray:
    """nuscenes-devkit's NuScenes.box_velocity, written out on the raw JSON records."""
    cur = anns[token]
    has_prev, has_next = cur["prev"] != "", cur["next"] != ""
    if not has_prev and not has_next:
        return np.full(3, np.nan)
    first = anns[cur["prev"]] if has_prev else cur
    last = anns[cur["next"]] if has_next else cur
    diff = np.array(last["translation"]) - np.array(first["translation"])
    dt = 1e-6 * samples[last["sample_token"]]["timestamp"] - 1e-6 * samples[
        first["sample_token"]]["timestamp"]  # fmt: skip
    limit = 1.5 * 2 if has_prev and has_next else 1.5
    return np.full(3, np.nan) if dt > limit else diff / dt


def test_synthetic_set_packs_with_a_reader_pool(synthetic_root, tmp_path):
    from hat.data.datasets.nuscenes import NuscenesDataset, NuscenesFromImage

    target = str(tmp_path / "nuscenes")
    proc = _pack_cli(synthetic_root, target, "mini_train", "--num-workers", "2")
    assert proc.returncode == 0, proc.stderr
    lmdb = os.path.join(target, VERSION, "mini_train_lmdb")
    assert f"packed 3 mini_train key frames into {lmdb}" in proc.stdout
    assert "frame/s" in proc.stderr  # the progress bar reports the throughput
    packed = NuscenesDataset(lmdb)
    raw = NuscenesFromImage(synthetic_root, VERSION, "mini_train")
    with open(os.path.join(synthetic_root, VERSION, "sample_annotation.json")) as f:
        anns = {a["token"]: a for a in json.load(f)}
    with open(os.path.join(synthetic_root, VERSION, "sample.json")) as f:
        samples = {s["token"]: s for s in json.load(f)}
    reader = LmdbReader(lmdb)
    checked = 0
    for i in range(len(packed)):
        a, b = packed[i], raw[i]
        assert sorted(a) == sorted(b) and a["sample_token"] == b["sample_token"]
        for x, y in zip(a["img"], b["img"]):
            np.testing.assert_array_equal(x, y)
        for key in ("ego2global", "intrinsics", "gt_boxes", "gt_boxes_global", "gt_labels"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        # velocity: the devkit's rule on the raw records (NaN kept in the record)
        record = reader[i]
        stored = np.frombuffer(record["gt_boxes_global"], "<f8").reshape(-1, 9)[:, 7:9]
        for token, vel in zip(record["gt_annotation_tokens"], stored):
            np.testing.assert_allclose(vel, _devkit_velocity(anns, samples, token)[:2], atol=1e-9)
            checked += 1
        # ego <-> global: the same boxes
        rot, trans = a["ego2global"][:3, :3], a["ego2global"][:3, 3]
        np.testing.assert_allclose(
            a["gt_boxes"][:, :3] @ rot.T + trans, a["gt_boxes_global"][:, :3], atol=1e-6
        )
    assert checked > 10
