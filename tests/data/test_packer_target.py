"""``--target-data-dir`` means one thing for every packer: the directory that receives
``<split>_lmdb`` (the tutorials' ``${target-data-dir}`` holding ``train_lmdb``/``val_lmdb``)."""

from __future__ import annotations

import os

import pytest

from hat.data.pack_type.lmdb import LmdbReader
from hat.data.packers.target import split_lmdb_path
from hat.tools import cityscapes_packer, flyingchairs_packer, sceneflow_packer


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory) -> str:
    """A read-only synthetic Cityscapes tree: 1 train + 2 val images of 128x64."""
    from hat.data.synthetic.cityscapes import make_cityscapes

    root = str(tmp_path_factory.mktemp("cs") / "cityscapes")
    make_cityscapes(root, num_train=1, num_val=2, seed=0, height=64, width=128)
    return root


# packer command, fixture of the raw tree, split, number of samples of that split
PACKERS = {
    "flyingchairs": (flyingchairs_packer.main, "chairs_root", "val", 2),
    "sceneflow": (sceneflow_packer.main, "sceneflow_root", "test", 2),
    "cityscapes": (cityscapes_packer.main, "cityscapes_root", "val", 2),
}


def _pack(name, request, *extra):
    main, fixture, split, count = PACKERS[name]
    src = request.getfixturevalue(fixture)
    argv = ["--src-data-dir", src, "--split-name", split, "--num-workers", "0", *extra]
    return main(argv), src, split, count


def _assert_lmdb(path, count):
    assert os.path.isdir(path), path
    assert len(LmdbReader(path)) == count


@pytest.mark.parametrize("name", sorted(PACKERS))
def test_target_dir_receives_split_lmdb(name, request, tmp_path, capsys):
    target = tmp_path / "packed" / "nested"  # need not exist yet
    rc, _, split, count = _pack(name, request, "--target-data-dir", str(target))
    assert rc == 0
    lmdb = target / f"{split}_lmdb"
    _assert_lmdb(str(lmdb), count)
    assert sorted(os.listdir(target)) == [f"{split}_lmdb"]
    assert f"into {lmdb} in " in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(PACKERS))
def test_target_named_split_lmdb_is_the_lmdb(name, request, tmp_path):
    split = PACKERS[name][2]
    target = tmp_path / f"{split}_lmdb"
    rc, _, _, count = _pack(name, request, "--target-data-dir", str(target))
    assert rc == 0
    _assert_lmdb(str(target), count)
    assert not os.path.exists(target / f"{split}_lmdb")


@pytest.mark.parametrize("name", sorted(PACKERS))
def test_default_target_is_the_source_dir(name, request, tmp_path):
    import shutil

    src = PACKERS[name][1]
    copy = str(tmp_path / "raw")
    shutil.copytree(request.getfixturevalue(src), copy)
    main, _, split, count = PACKERS[name]
    rc = main(["--src-data-dir", copy, "--split-name", split, "--num-workers", "0"])
    assert rc == 0
    _assert_lmdb(os.path.join(copy, f"{split}_lmdb"), count)


def test_split_lmdb_path():
    assert split_lmdb_path("/d/src", None, "train") == os.path.join("/d/src", "train_lmdb")
    assert split_lmdb_path("/d/src", "/d/out", "val") == os.path.join("/d/out", "val_lmdb")
    named = split_lmdb_path("/d/src", "/d/out/val_lmdb/", "val")
    assert named == os.path.join("/d/out", "val_lmdb")
    # another split's directory is a parent like any other
    assert split_lmdb_path("/d/src", "/d/val_lmdb", "train") == os.path.join(
        "/d/val_lmdb", "train_lmdb"
    )
