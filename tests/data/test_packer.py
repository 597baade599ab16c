import os
import subprocess
import sys

import numpy as np
import pytest

from hat.data.datasets import FlyingChairs
from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbReader
from hat.data.packers.flyingchairs import FlyingChairsPacker
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _assert_bit_exact(lmdb_path, root, split):
    layout = FlyingChairsLayout(root)
    ids = layout.pair_ids(split)
    ds = FlyingChairs(lmdb_path)
    assert len(ds) == len(ids)
    for i, pair_id in enumerate(ids):
        item = ds[i]
        img1, img2, flow = layout.read_pair(pair_id)
        assert item["img_name"] == pair_id
        np.testing.assert_array_equal(item["img"][0], img1)
        np.testing.assert_array_equal(item["img"][1], img2)
        np.testing.assert_array_equal(item["gt_flow"], flow)
        assert item["gt_flow"].dtype == np.float32 and item["img"][0].dtype == np.uint8


def test_round_trip_bit_exact(train_lmdb, chairs_root):
    _assert_bit_exact(train_lmdb, chairs_root, "train")
    value = LmdbReader(train_lmdb)[0]
    assert set(value) == {"schema", "img_name", "shape", "img_format", "img1", "img2", "flow"}
    assert value["img_format"] == "raw" and value["shape"] == [64, 96]


@pytest.mark.parametrize("img_format", ["png", "raw"])
def test_round_trip_with_pool(chairs_root, tmp_path, img_format):
    target = str(tmp_path / "val_lmdb")
    packer = FlyingChairsPacker(
        chairs_root, target, split_name="val", num_workers=2, img_format=img_format
    )
    assert packer() == 2
    _assert_bit_exact(target, chairs_root, "val")
    assert LmdbReader(target)[0]["img_format"] == img_format


def test_default_target_is_beside_the_source(chairs_copy):
    FlyingChairsPacker(chairs_copy, split_name="val", num_workers=0)()
    assert os.path.isdir(os.path.join(chairs_copy, "val_lmdb"))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_corrupt_raw_file_aborts_and_leaves_nothing(chairs_copy, tmp_path, num_workers):
    layout = FlyingChairsLayout(chairs_copy)
    bad_id = layout.pair_ids("train")[4]
    flo = layout.pair_paths(bad_id)[2]
    with open(flo, "r+b") as f:
        f.truncate(100)
    target = str(tmp_path / "out" / "train_lmdb")
    os.makedirs(os.path.dirname(target))
    packer = FlyingChairsPacker(chairs_copy, target, "train", num_workers=num_workers)
    with pytest.raises(CorruptFileError, match=rf"{bad_id:05d}_flow\.flo.*truncated"):
        packer()
    assert os.listdir(os.path.dirname(target)) == []


def test_missing_image_aborts_and_keeps_existing_target(chairs_copy, tmp_path):
    target = str(tmp_path / "train_lmdb")
    FlyingChairsPacker(chairs_copy, target, "train", num_workers=0)()
    layout = FlyingChairsLayout(chairs_copy)
    missing = layout.pair_paths(layout.pair_ids("train")[-1])[1]
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match=os.path.basename(missing)):
        FlyingChairsPacker(chairs_copy, target, "train", num_workers=0, overwrite=True)()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        FlyingChairsPacker(chairs_copy, target, "train", num_workers=0)()
    assert len(FlyingChairs(target)) == 8  # the old, complete LMDB is untouched
    assert sorted(os.listdir(tmp_path)) == ["FlyingChairs", "train_lmdb"]


def test_bad_arguments(chairs_root):
    with pytest.raises(ValueError, match="unsupported pack type 'tfrecord'"):
        FlyingChairsPacker(chairs_root, split_name="train", pack_type="tfrecord")
    with pytest.raises(ValueError, match="unknown split 'test'"):
        FlyingChairsPacker(chairs_root, split_name="test")


def _cli(*args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "datasets", "flyingchairs_packer.py"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_cli(chairs_copy):
    proc = _cli(
        "--src-data-dir", chairs_copy, "--split-name", "train", "--pack-type", "lmdb",
        "--num-workers", "2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "packed 8 train pairs" in proc.stdout
    _assert_bit_exact(os.path.join(chairs_copy, "train_lmdb"), chairs_copy, "train")
    proc = _cli("--src-data-dir", chairs_copy, "--split-name", "train", "--num-workers", "0")
    assert proc.returncode == 1 and "already exists" in proc.stderr
    proc = _cli("--src-data-dir", chairs_copy, "--split-name", "val", "--pack-type", "tfrecord")
    assert proc.returncode == 2 and "unsupported --pack-type 'tfrecord'" in proc.stderr
    assert not os.path.exists(os.path.join(chairs_copy, "val_lmdb"))
