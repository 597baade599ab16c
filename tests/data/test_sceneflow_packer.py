import os
import subprocess
import sys

import msgpack
import numpy as np
import pytest

from hat.data.datasets import SceneFlow, SceneFlowFromImage
from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbReader, LmdbWriter
from hat.data.packers.sceneflow import SceneFlowPacker
from hat.data.readers.image import read_image
from hat.data.readers.pfm import read_pfm, write_pfm
from hat.data.readers.sceneflow_layout import SceneFlowLayout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def sceneflow_lmdbs(sceneflow_root, tmp_path_factory) -> str:
    """Both splits of ``sceneflow_root`` packed into ``<dir>/{train,test}_lmdb``."""
    target = str(tmp_path_factory.mktemp("sf_packed"))
    for split in ("train", "test"):
        SceneFlowPacker(sceneflow_root, target, split_name=split, num_workers=0)()
    return target


def _assert_same_as_raw(lmdb_path, root, split):
    layout = SceneFlowLayout(root)
    entries = layout.entries(split)
    ds = SceneFlow(lmdb_path)
    assert len(ds) == len(entries)
    for i, entry in enumerate(entries):
        item = ds[i]
        assert item["img_name"] == entry.left
        left, right, disp = (os.path.join(root, p) for p in (entry.left, entry.right, entry.disp))
        np.testing.assert_array_equal(item["img"][0], read_image(left))
        np.testing.assert_array_equal(item["img"][1], read_image(right))
        np.testing.assert_array_equal(item["gt_disp"], read_pfm(disp))
        assert item["gt_disp"].dtype == np.float32 and item["img"][0].dtype == np.uint8


def test_round_trip_bit_exact(sceneflow_lmdbs, sceneflow_root):
    for split in ("train", "test"):
        _assert_same_as_raw(os.path.join(sceneflow_lmdbs, f"{split}_lmdb"), sceneflow_root, split)
    value = LmdbReader(os.path.join(sceneflow_lmdbs, "train_lmdb"))[0]
    assert set(value) == {
        "schema", "img_name", "shape", "img_format", "img_left", "img_right", "gt_disp"
    }  # fmt: skip
    assert value["schema"] == "hat.sceneflow/1" and value["img_format"] == "raw"
    assert value["shape"] == [64, 128] and len(value["gt_disp"]) == 64 * 128 * 4


def test_from_image_equals_lmdb(sceneflow_lmdbs, sceneflow_root):
    packed = SceneFlow(os.path.join(sceneflow_lmdbs, "test_lmdb"), to_rgb=False)
    raw = SceneFlowFromImage(sceneflow_root, split="test", to_rgb=False)
    by_list = SceneFlowFromImage(data_dir=sceneflow_root, list_file="SceneFlow_finalpass_test.txt")
    assert len(packed) == len(raw) == len(by_list) == 2
    for i in range(2):
        a, b = packed[i], raw[i]
        assert a["img_name"] == b["img_name"] == by_list[i]["img_name"]
        for k in range(2):
            np.testing.assert_array_equal(a["img"][k], b["img"][k])
            np.testing.assert_array_equal(a["img"][k][..., ::-1], by_list[i]["img"][k])
        np.testing.assert_array_equal(a["gt_disp"], b["gt_disp"])
    assert packed[-1]["img_name"] == packed[1]["img_name"]


@pytest.mark.parametrize("img_format", ["png", "raw"])
def test_pool_keeps_list_order(sceneflow_root, tmp_path, img_format):
    packer = SceneFlowPacker(
        sceneflow_root, str(tmp_path), "train", num_workers=2, img_format=img_format
    )
    assert packer.target == os.path.join(str(tmp_path), "train_lmdb")
    assert packer() == 6
    _assert_same_as_raw(packer.target, sceneflow_root, "train")
    value = LmdbReader(packer.target)[4]
    assert value["img_format"] == img_format
    if img_format == "png":  # the source file's bytes, not a re-encoding
        with open(os.path.join(sceneflow_root, value["img_name"]), "rb") as f:
            assert value["img_left"] == f.read()


def test_target_naming(sceneflow_copy, tmp_path):
    assert SceneFlowPacker(sceneflow_copy, split_name="test", num_workers=0)() == 2
    assert os.path.isdir(os.path.join(sceneflow_copy, "test_lmdb"))
    explicit = str(tmp_path / "new" / "test_lmdb")  # a path already naming the LMDB, new parent
    SceneFlowPacker(sceneflow_copy, explicit, "test", num_workers=0, num_samples=1)()
    assert len(SceneFlow(explicit)) == 1


@pytest.mark.parametrize("num_workers", [0, 2])
def test_missing_right_image_aborts_and_leaves_nothing(sceneflow_copy, tmp_path, num_workers):
    entry = SceneFlowLayout(sceneflow_copy).entries("train")[3]
    os.remove(os.path.join(sceneflow_copy, entry.right))
    out = tmp_path / "out"
    packer = SceneFlowPacker(sceneflow_copy, str(out), "train", num_workers=num_workers)
    with pytest.raises(FileNotFoundError, match=rf"{entry.right} .*train\.txt:4"):
        packer()
    assert os.listdir(out) == []


def test_missing_disparity_file(sceneflow_copy, tmp_path):
    entry = SceneFlowLayout(sceneflow_copy).entries("test")[0]
    os.remove(os.path.join(sceneflow_copy, entry.disp))
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=rf"PFM file not found: .*{entry.disp}"):
        SceneFlowPacker(sceneflow_copy, str(out), "test", num_workers=0)()
    assert os.listdir(out) == []


def test_size_mismatch_between_left_and_disparity(sceneflow_copy, tmp_path):
    entry = SceneFlowLayout(sceneflow_copy).entries("test")[1]
    disp_path = os.path.join(sceneflow_copy, entry.disp)
    write_pfm(disp_path, read_pfm(disp_path)[:32])
    out = tmp_path / "out"
    with pytest.raises(CorruptFileError, match=r"sizes differ .*test\.txt:2.*\(32, 128\)"):
        SceneFlowPacker(sceneflow_copy, str(out), "test", num_workers=0)()
    assert os.listdir(out) == []


def test_existing_target_is_kept(sceneflow_copy, tmp_path):
    SceneFlowPacker(sceneflow_copy, str(tmp_path), "test", num_workers=0)()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        SceneFlowPacker(sceneflow_copy, str(tmp_path), "test", num_workers=0)()
    assert len(SceneFlow(str(tmp_path / "test_lmdb"))) == 2


def test_bad_arguments(sceneflow_root):
    with pytest.raises(ValueError, match="unknown split 'val'"):
        SceneFlowPacker(sceneflow_root, split_name="val")
    with pytest.raises(ValueError, match="unsupported pack type 'tar'"):
        SceneFlowPacker(sceneflow_root, pack_type="tar")


def test_cli(sceneflow_root, tmp_path):
    script = os.path.join(REPO, "tools", "datasets", "sceneflow_packer.py")
    cmd = [
        sys.executable, script, "--src-data-dir", sceneflow_root, "--split-name", "test",
        "--pack-type", "lmdb", "--num-workers", "2", "--target-data-dir", str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"packed 2 test samples into {tmp_path / 'test_lmdb'}" in proc.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = subprocess.run(
        cmd[:3] + [str(tmp_path / "nowhere")] + cmd[4:], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and "SceneFlow directory not found" in bad.stderr


def test_corrupt_value_names_path_and_key(tmp_path):
    path = str(tmp_path / "bad_lmdb")
    with LmdbWriter(path) as w:
        w.append({"schema": "hat.sceneflow/1", "img_name": "x", "shape": [2, 2]})
        w.append({"schema": "hat.flyingchairs/1"})
    ds = SceneFlow(path)
    with pytest.raises(CorruptFileError, match=r"bad_lmdb key b'0'.*lacks field 'img_format'"):
        ds[0]
    with pytest.raises(CorruptFileError, match=r"key b'1'.*expected schema 'hat.sceneflow/1'"):
        ds[1]


def test_reads_hat_packed_values(tmp_path):
    """A value as Horizon's HAT packs it: PNGs encoded from RGB arrays, float32 disparity."""
    import cv2

    rng = np.random.default_rng(0)
    left, right = (rng.integers(0, 256, (4, 6, 3), dtype=np.uint8) for _ in range(2))
    disp = rng.uniform(0, 10, (4, 6)).astype(np.float32)
    value = {
        "img_name": "FlyingThings3D/frames_finalpass/TEST/A/0000/left/0006.png",
        "gt_disp": disp.tobytes(),
        "img_left": cv2.imencode(".png", left)[1].tobytes(),  # RGB array given to imencode
        "img_right": cv2.imencode(".png", right)[1].tobytes(),
    }
    path = str(tmp_path / "hat_lmdb")
    with LmdbWriter(path) as w:
        w.append(msgpack.unpackb(msgpack.packb(value), raw=False))
    item = SceneFlow(path)[0]
    np.testing.assert_array_equal(item["img"][0], left)
    np.testing.assert_array_equal(item["img"][1], right)
    np.testing.assert_array_equal(item["gt_disp"], disp)
    assert item["img_name"] == value["img_name"]
