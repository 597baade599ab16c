"""Shared fixtures: tiny synthetic FlyingChairs and SceneFlow trees, packed LMDBs, and a
digest of a generated tree."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable

import pytest

from hat.data.packers.flyingchairs import FlyingChairsPacker
from hat.data.synthetic.flyingchairs import make_flyingchairs

H, W = 64, 96
NUM_PAIRS = 10


@pytest.fixture(scope="session")
def chairs_root(tmp_path_factory) -> str:
    """A read-only synthetic FlyingChairs tree: 10 pairs of 64x96 (8 train, 2 val)."""
    root = str(tmp_path_factory.mktemp("chairs") / "FlyingChairs")
    make_flyingchairs(root, num_pairs=NUM_PAIRS, seed=7, height=H, width=W, val_fraction=0.2)
    return root


@pytest.fixture(scope="session")
def train_lmdb(chairs_root, tmp_path_factory) -> str:
    """The train split of ``chairs_root`` packed (raw image format)."""
    target = str(tmp_path_factory.mktemp("packed") / "train_lmdb")
    FlyingChairsPacker(chairs_root, target, split_name="train", num_workers=0)()
    return target


@pytest.fixture
def chairs_copy(chairs_root, tmp_path) -> str:
    """A writable copy of ``chairs_root`` (for tests that damage files)."""
    return _writable_copy(chairs_root, tmp_path, "FlyingChairs")


SF_H, SF_W = 64, 128


@pytest.fixture(scope="session")
def sceneflow_root(tmp_path_factory) -> str:
    """A read-only synthetic SceneFlow tree, 64x128: 6 train pairs (FlyingThings3D 4,
    Driving 1, Monkaa 1) and 2 test pairs."""
    from hat.data.synthetic.sceneflow import make_sceneflow

    root = str(tmp_path_factory.mktemp("sceneflow") / "SceneFlow")
    make_sceneflow(root, num_train=6, num_test=2, seed=3, height=SF_H, width=SF_W, max_disp=16)
    return root


@pytest.fixture
def sceneflow_copy(sceneflow_root, tmp_path) -> str:
    """A writable copy of ``sceneflow_root`` (for tests that damage files)."""
    return _writable_copy(sceneflow_root, tmp_path, "SceneFlow")


def _writable_copy(root: str, tmp_path, name: str) -> str:
    dst = os.path.join(tmp_path, name)
    shutil.copytree(root, dst)
    return dst


def _digest(root) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture
def tree_digest() -> Callable[..., dict[str, str]]:
    """``tree_digest(root)``: the SHA-256 of every file under ``root``, by relative path."""
    return _digest
