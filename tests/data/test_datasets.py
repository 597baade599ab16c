import lmdb
import msgpack
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hat.data.collates import collate_2d
from hat.data.datasets import FlyingChairs, FlyingChairsFromImage
from hat.data.errors import CorruptFileError
from hat.data.transforms import Compose, RandomCrop, ToTensor
from hat.registry import build_from_registry


def test_item_format(train_lmdb):
    ds = FlyingChairs(train_lmdb)
    item = ds[0]
    assert set(item) == {"img", "gt_flow", "img_name"}
    img1, img2 = item["img"]
    assert img1.shape == img2.shape == (64, 96, 3) and img1.dtype == np.uint8
    assert item["gt_flow"].shape == (64, 96, 2) and item["gt_flow"].dtype == np.float32
    assert isinstance(item["img_name"], int)
    bgr = FlyingChairs(train_lmdb, to_rgb=False)[0]
    np.testing.assert_array_equal(bgr["img"][0], img1[..., ::-1])
    assert ds[-1]["img_name"] == ds[len(ds) - 1]["img_name"]


def test_lmdb_and_raw_files_agree(train_lmdb, chairs_root):
    packed, raw = FlyingChairs(train_lmdb), FlyingChairsFromImage(chairs_root, split="train")
    assert len(packed) == len(raw) == 8
    for i in (0, 5):
        a, b = packed[i], raw[i]
        assert a["img_name"] == b["img_name"]
        np.testing.assert_array_equal(a["img"][1], b["img"][1])
        np.testing.assert_array_equal(a["gt_flow"], b["gt_flow"])
    assert len(FlyingChairsFromImage(chairs_root, split="val")) == 2


def test_transforms_list_single_and_config(train_lmdb):
    t = ToTensor()
    a = FlyingChairs(train_lmdb, transforms=[t])[0]
    b = FlyingChairs(train_lmdb, transforms=t)[0]
    assert a["img"].shape == (6, 64, 96) and torch.equal(a["img"], b["img"])
    ds = build_from_registry(
        dict(
            type="FlyingChairs",
            data_path=train_lmdb,
            transforms=[dict(type="RandomCrop", size=(32, 48)), dict(type="ToTensor")],
        )
    )
    assert isinstance(ds.transforms, Compose)
    assert ds[1]["img"].shape == (6, 32, 48) and ds[1]["gt_flow"].shape == (2, 32, 48)
    with pytest.raises(TypeError, match="not callable"):
        FlyingChairs(train_lmdb, transforms=[3])


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers(train_lmdb, context):
    ds = FlyingChairs(train_lmdb, transforms=[RandomCrop((32, 32)), ToTensor()])
    assert ds[0]["img_name"] >= 1  # the parent has opened the LMDB before the workers start
    loader = DataLoader(
        ds, batch_size=3, num_workers=2, collate_fn=collate_2d, multiprocessing_context=context
    )
    names = []
    for batch in loader:
        assert batch["img"].shape[1:] == (6, 32, 32) and batch["gt_flow"].shape[1:] == (2, 32, 32)
        names += batch["img_name"].tolist()
    assert sorted(names) == sorted(ds[i]["img_name"] for i in range(len(ds)))


def test_corrupt_value_names_path_and_key(tmp_path):
    path = str(tmp_path / "bad_lmdb")
    env = lmdb.open(path, map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0", msgpack.packb({"schema": "something/else"}))
        txn.put(b"1", msgpack.packb({"schema": "hat.flyingchairs/1", "shape": [2, 2]}))
        txn.put(b"__len__", b"2")
    env.close()
    ds = FlyingChairs(path)
    with pytest.raises(CorruptFileError, match=r"bad_lmdb key b'0'.*expected schema"):
        ds[0]
    with pytest.raises(CorruptFileError, match=r"bad_lmdb key b'1'.*lacks field"):
        ds[1]


def test_reads_hat_packed_values(tmp_path):
    """HAT's own packed layout (see docs/notes): name, shape, PNG sizes, PNGs of RGB, f64 flow."""
    import cv2

    rng = np.random.default_rng(0)
    img1, img2 = (rng.integers(0, 256, (4, 5, 3), dtype=np.uint8) for _ in range(2))
    flow = rng.normal(size=(4, 5, 2))
    png1, png2 = (cv2.imencode(".png", i)[1].tobytes() for i in (img1, img2))  # RGB arrays
    blob = (
        np.array([42], "<i8").tobytes()
        + np.array(flow.shape, "<u2").tobytes()
        + np.array([len(png1), len(png2)], "<i8").tobytes()
        + png1
        + png2
        + flow.astype("<f8").tobytes()
    )
    path = str(tmp_path / "hat_lmdb")
    env = lmdb.open(path, map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0", msgpack.packb(blob))
    env.close()
    item = FlyingChairs(path)[0]
    assert item["img_name"] == 42
    np.testing.assert_array_equal(item["img"][0], img1)
    np.testing.assert_array_equal(item["img"][1], img2)
    np.testing.assert_array_equal(item["gt_flow"], flow.astype(np.float32))


class _Count:
    def __init__(self):
        self.calls = 0

    def __call__(self, sample):
        self.calls += 1
        return sample


def test_each_transform_runs_once_per_item(train_lmdb, chairs_root):
    for ds_cls, kwargs in ((FlyingChairs, {}), (FlyingChairsFromImage, {"split": "val"})):
        count = _Count()
        path = train_lmdb if ds_cls is FlyingChairs else chairs_root
        ds = ds_cls(path, transforms=[count], **kwargs)
        ds[0]
        ds[1]
        assert count.calls == 2


def test_tune_malloc():
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = "from hat.data.memory import tune_malloc; print(tune_malloc(), tune_malloc())"
    for flag, expect in (("1", ["True", "True"]), ("0", ["False", "False"])):
        env = {**os.environ, "HAT_TUNE_MALLOC": flag}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == expect
