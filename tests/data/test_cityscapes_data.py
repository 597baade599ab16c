"""Synthetic Cityscapes generator, raw layout reader, packer, LMDB datasets and tools."""

import os
import shutil
import subprocess
import sys

import cv2
import msgpack
import numpy as np
import pytest
import torch

from hat.data.cityscapes_labels import LABEL_BY_ID, color_of_label_ids
from hat.data.codecs.cityscapes import decode_sample
from hat.data.collates import collate_2d
from hat.data.datasets import CityscapesFromImage, CityscapesFromLMDB
from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbReader
from hat.data.packers.cityscapes import CityscapesPacker
from hat.data.readers.cityscapes_layout import CityscapesLayout
from hat.data.synthetic.cityscapes import (
    VAL_CITIES,
    make_cityscapes,
    render_scene,
    sample_rng,
)
from hat.registry import build_from_registry

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H, W = 128, 256
EVAL_IDS = {i for i, lab in LABEL_BY_ID.items() if 0 <= lab.train_id < 255}


@pytest.fixture(scope="module")
def cs_root(tmp_path_factory) -> str:
    """A read-only synthetic tree: 9 train + 3 val images of 256x128."""
    root = str(tmp_path_factory.mktemp("cs") / "cityscapes")
    make_cityscapes(root, num_train=9, num_val=3, seed=3, height=H, width=W)
    return root


@pytest.fixture(scope="module")
def train_lmdb(cs_root, tmp_path_factory) -> str:
    target = str(tmp_path_factory.mktemp("cs_packed") / "train_lmdb")
    CityscapesPacker(cs_root, target, split_name="train", num_workers=0)()
    return target


@pytest.fixture
def cs_copy(cs_root, tmp_path) -> str:
    dst = str(tmp_path / "cityscapes")
    shutil.copytree(cs_root, dst)
    return dst


# ------------------------------------------------------------------ generator
def test_render_is_deterministic_and_seed_dependent():
    a = render_scene(sample_rng(5, "train", 2), 64, 128)
    b = render_scene(sample_rng(5, "train", 2), 64, 128)
    c = render_scene(sample_rng(6, "train", 2), 64, 128)
    for x, y in ((a.image, b.image), (a.label_ids, b.label_ids), (a.instance_ids, b.instance_ids)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.image, c.image)


def test_tree_layout_and_all_classes(cs_root):
    layout = CityscapesLayout(cs_root)
    train, val = layout.samples("train"), layout.samples("val")
    assert len(train) == 9 and len(val) == 3
    assert {s.city for s in val} == set(VAL_CITIES)
    assert all(s.name.endswith("_000019") and s.name.startswith(s.city + "_") for s in train)
    seen = set()
    palette = np.array(color_of_label_ids(), np.uint8)
    for s in train:
        img, label = layout.read_sample(s)
        assert img.shape == (H, W, 3) and label.shape == (H, W)
        seen |= set(np.unique(label).tolist())
        inst = cv2.imread(s.instance_path, cv2.IMREAD_UNCHANGED)
        assert inst.dtype == np.uint16 and inst.shape == (H, W)
        things = inst >= 1000
        assert np.array_equal(inst[things] // 1000, label[things].astype(np.uint16))
        assert all(LABEL_BY_ID[i].has_instances for i in np.unique(label[things]).tolist())
        assert np.array_equal(inst[~things], label[~things].astype(np.uint16))
        color = cv2.imread(s.color_path)[..., ::-1]
        np.testing.assert_array_equal(color, palette[label])
    assert EVAL_IDS <= seen, f"missing classes: {sorted(EVAL_IDS - seen)}"
    assert seen & {1, 2, 3}, "no void pixels (ego vehicle / borders)"


def test_make_is_reproducible_and_skips(cs_root, tmp_path):
    again = str(tmp_path / "again")
    make_cityscapes(again, num_train=9, num_val=3, seed=3, height=H, width=W)
    for sub in ("leftImg8bit/train", "gtFine/val"):
        for dirpath, _, files in os.walk(os.path.join(cs_root, sub)):
            for f in files:
                p = os.path.join(dirpath, f)
                with open(p, "rb") as fa, open(p.replace(cs_root, again), "rb") as fb:
                    assert fa.read() == fb.read(), f
    assert make_cityscapes(again, 9, 3, seed=3, height=H, width=W)["skipped"] == 1
    with pytest.raises(FileExistsError, match="overwrite"):
        make_cityscapes(again, 9, 3, seed=4, height=H, width=W)


def test_pool_writes_the_same_files(tmp_path):
    """Worker processes (other hash seeds) write byte-identical files."""
    serial, pooled = str(tmp_path / "serial"), str(tmp_path / "pooled")
    make_cityscapes(serial, num_train=3, num_val=1, seed=9, height=64, width=128)
    make_cityscapes(pooled, num_train=3, num_val=1, seed=9, height=64, width=128, num_workers=2)
    files = sorted(
        os.path.relpath(os.path.join(d, f), serial) for d, _, fs in os.walk(serial) for f in fs
    )
    assert len(files) == 4 * 4 + 1
    for rel in files:
        with (
            open(os.path.join(serial, rel), "rb") as fa,
            open(os.path.join(pooled, rel), "rb") as fb,
        ):
            assert fa.read() == fb.read(), rel


# ------------------------------------------------------------------ raw layout errors
def test_missing_label_names_the_file(cs_copy):
    layout = CityscapesLayout(cs_copy)
    victim = layout.samples("train")[4]
    os.remove(victim.label_path)
    with pytest.raises(FileNotFoundError, match=os.path.basename(victim.label_path)):
        CityscapesLayout(cs_copy).samples("train")
    with pytest.raises(FileNotFoundError, match="gtFine"):
        CityscapesLayout(cs_copy).samples("test")


def test_size_mismatch_names_both_files(cs_copy, tmp_path):
    layout = CityscapesLayout(cs_copy)
    victim = layout.samples("val")[1]
    cv2.imwrite(victim.label_path, np.zeros((H // 2, W), np.uint8))
    pattern = rf"{os.path.basename(victim.image_path)}.*{os.path.basename(victim.label_path)}"
    with pytest.raises(CorruptFileError, match=pattern):
        layout.read_sample(victim)
    target = str(tmp_path / "val_lmdb")
    with pytest.raises(CorruptFileError, match=pattern):
        CityscapesPacker(cs_copy, target, split_name="val", num_workers=0)()
    assert not os.path.exists(target) and os.listdir(tmp_path) == ["cityscapes"]


def test_wrong_image_size_and_bad_label_format(cs_copy, tmp_path):
    with pytest.raises(CorruptFileError, match=r"is 256x128, expected 2048x1024"):
        CityscapesPacker(cs_copy, str(tmp_path / "a"), "val", 0, image_size=(1024, 2048))()
    victim = CityscapesLayout(cs_copy).samples("val")[0]
    cv2.imwrite(victim.label_path, np.zeros((H, W), np.uint16))
    with pytest.raises(CorruptFileError, match="uint16"):
        CityscapesPacker(cs_copy, str(tmp_path / "b"), "val", 0)()


# ------------------------------------------------------------------ packer and datasets
def _assert_bit_exact(lmdb_path, root, split):
    layout = CityscapesLayout(root)
    samples = layout.samples(split)
    ds = CityscapesFromLMDB(lmdb_path)
    assert len(ds) == len(samples)
    for i, s in enumerate(samples):
        item = ds[i]
        img, label = layout.read_sample(s)
        assert item["img_name"] == s.name
        np.testing.assert_array_equal(item["img"], img)
        np.testing.assert_array_equal(item["gt_seg"], label)
        assert item["img"].dtype == np.uint8 and item["gt_seg"].dtype == np.uint8


def test_round_trip_bit_exact(train_lmdb, cs_root):
    _assert_bit_exact(train_lmdb, cs_root, "train")
    value = LmdbReader(train_lmdb)[0]
    assert set(value) == {"schema", "img_name", "city", "shape", "img_format", "img", "gt_seg"}
    assert value["img_format"] == "png" and value["shape"] == [H, W]
    first = CityscapesLayout(cs_root).samples("train")[0]
    with open(first.label_path, "rb") as f:
        assert value["gt_seg"] == f.read()  # the labelIds PNG as is: raw ids, not remapped


def test_round_trip_raw_with_pool(cs_root, tmp_path):
    target = str(tmp_path / "val_lmdb")
    assert CityscapesPacker(cs_root, target, "val", num_workers=2, img_format="raw")() == 3
    _assert_bit_exact(target, cs_root, "val")
    assert len(LmdbReader(target)[0]["img"]) == H * W * 3


def test_dataset_transforms_collate_and_registry(train_lmdb):
    ds = build_from_registry(
        dict(
            type="CityscapesFromLMDB",
            data_path=train_lmdb,
            transforms=[dict(type="PILToTensor")],
            num_samples=2975,
        )
    )
    assert len(ds) == 9
    batch = collate_2d([ds[0], ds[1], ds[2]])
    assert batch["img"].shape == (3, 3, H, W) and batch["img"].dtype == torch.uint8
    assert batch["gt_seg"].shape == (3, 1, H, W) and batch["gt_seg"].dtype == torch.uint8
    assert isinstance(batch["img_name"], list) and len(batch["img_name"]) == 3
    assert len(CityscapesFromLMDB(train_lmdb, num_samples=4)) == 4
    bgr = CityscapesFromLMDB(train_lmdb, to_rgb=False)[0]["img"]
    np.testing.assert_array_equal(bgr[..., ::-1], CityscapesFromLMDB(train_lmdb)[0]["img"])
    alias = build_from_registry(dict(type="Cityscapes", data_path=train_lmdb))
    assert isinstance(alias, CityscapesFromLMDB)


def test_from_image_matches_lmdb(train_lmdb, cs_root):
    raw = CityscapesFromImage(cs_root, split="train")
    packed = CityscapesFromLMDB(train_lmdb)
    for i in (0, 8):
        a, b = raw[i], packed[i]
        assert a["img_name"] == b["img_name"]
        np.testing.assert_array_equal(a["img"], b["img"])
        np.testing.assert_array_equal(a["gt_seg"], b["gt_seg"])


def test_decodes_hat_blob():
    img = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    label = np.arange(60, dtype=np.uint8).reshape(6, 10)
    blob = (
        np.array(label.shape, np.uint16).tobytes()
        + cv2.imencode(".png", img)[1].tobytes()
        + label.tobytes()
    )
    value = msgpack.unpackb(msgpack.packb(blob, use_bin_type=True), raw=False)
    s = decode_sample(value, to_rgb=True)
    np.testing.assert_array_equal(s.img, img)  # HAT encoded the RGB array as is
    np.testing.assert_array_equal(s.gt_seg, label)
    with pytest.raises(CorruptFileError, match="schema"):
        decode_sample({"schema": "other"}, where="x")


# ------------------------------------------------------------------ command-line tools
def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_packer_cli_default_target_and_overwrite(cs_copy):
    cmd = [
        os.path.join(REPO, "tools/datasets/cityscapes_packer.py"),
        "--src-data-dir",
        cs_copy,
        "--split-name",
        "val",
        "--pack-type",
        "lmdb",
        "--num-workers",
        "0",
    ]
    res = _run(cmd, cs_copy)
    assert res.returncode == 0, res.stderr
    assert len(CityscapesFromLMDB(os.path.join(cs_copy, "val_lmdb"))) == 3
    res = _run(cmd, cs_copy)
    assert res.returncode == 1 and "refusing to overwrite" in res.stderr
    assert _run([*cmd, "--overwrite"], cs_copy).returncode == 0
    bad = _run([*cmd[:-4], "--pack-type", "tar"], cs_copy)
    assert bad.returncode != 0 and "lmdb" in bad.stderr


def test_make_synthetic_cli(tmp_path):
    out = str(tmp_path / "cs")
    res = _run(
        [
            os.path.join(REPO, "tools/datasets/make_synthetic.py"),
            "cityscapes",
            "--out",
            out,
            "--num-train",
            "2",
            "--num-val",
            "1",
            "--height",
            "64",
            "--width",
            "128",
        ],
        str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    layout = CityscapesLayout(out)
    assert len(layout.samples("train")) == 2 and len(layout.samples("val")) == 1
