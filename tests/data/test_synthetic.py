import os
import subprocess
import sys

import numpy as np
import pytest

from hat.data.readers.flo import read_flo
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout, read_split_file
from hat.data.readers.image import read_image
from hat.data.synthetic.flyingchairs import check_pair, make_flyingchairs, pair_rng, render_pair

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_deterministic_by_seed(tmp_path, tree_digest):
    kw = dict(num_pairs=4, height=48, width=64, val_fraction=0.25)
    make_flyingchairs(str(tmp_path / "a"), seed=3, **kw)
    make_flyingchairs(str(tmp_path / "b"), seed=3, num_workers=2, **kw)
    make_flyingchairs(str(tmp_path / "c"), seed=4, **kw)
    a, b, c = (tree_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == 4 * 3 + 2
    data = [k for k in a if k.endswith((".ppm", ".flo"))]
    assert all(a[k] != c[k] for k in data)


def test_pair_does_not_depend_on_count():
    a = render_pair(pair_rng(5, 2), 48, 64)
    b = render_pair(pair_rng(5, 2), 48, 64)
    np.testing.assert_array_equal(a.img2, b.img2)
    np.testing.assert_array_equal(a.flow, b.flow)
    assert not np.array_equal(a.img1, render_pair(pair_rng(5, 3), 48, 64).img1)


def test_layout_and_self_check_from_files(chairs_root):
    layout = FlyingChairsLayout(chairs_root)
    assert read_split_file(layout.split_file).count(2) == 2
    readme = os.path.join(chairs_root, "FlyingChairs_release", "README.txt")
    assert "Synthetic FlyingChairs" in open(readme).read()
    for pair_id in (1, 10):
        p1, p2, pf = layout.pair_paths(pair_id)
        img1, img2, flow = read_image(p1), read_image(p2), read_flo(pf)
        assert img1.shape == (64, 96, 3) and flow.shape == (64, 96, 2)
        check = check_pair(img1, img2, flow)  # no occlusion mask: files only
        assert check["ratio"] < 0.35, check


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_self_check_with_occlusions(seed):
    pair = render_pair(pair_rng(seed, 0), 96, 128)
    check = check_pair(pair.img1, pair.img2, pair.flow, pair.valid)
    assert check["warp_mae"] < 1.5 and check["ratio"] < 0.1, check
    assert check["nowarp_mae"] > 5 and 0.5 < check["valid_fraction"] < 1.0
    mag = np.linalg.norm(pair.flow, axis=-1)
    assert 0.5 < mag.mean() < 15 and mag.max() < 40  # moderate motion at 128 px width


def test_full_size_flow_range():
    pair = render_pair(pair_rng(0, 1), 384, 512)
    mag = np.linalg.norm(pair.flow, axis=-1)
    assert 2 < mag.mean() < 30 and mag.max() < 80


def test_rerun_skips_or_refuses(tmp_path):
    kw = dict(height=32, width=32)
    assert make_flyingchairs(str(tmp_path), num_pairs=1, **kw)["skipped"] == 0
    mtime = os.path.getmtime(tmp_path / "FlyingChairs_release" / "data" / "00001_img1.ppm")
    assert make_flyingchairs(str(tmp_path), num_pairs=1, **kw)["skipped"] == 1  # same arguments
    assert os.path.getmtime(tmp_path / "FlyingChairs_release" / "data" / "00001_img1.ppm") == mtime
    with pytest.raises(FileExistsError, match="--overwrite"):
        make_flyingchairs(str(tmp_path), num_pairs=2, **kw)  # different arguments
    os.remove(tmp_path / "FlyingChairs_release" / "README.txt")  # as if interrupted
    with pytest.raises(FileExistsError, match="not completely generated"):
        make_flyingchairs(str(tmp_path), num_pairs=1, **kw)
    make_flyingchairs(str(tmp_path), num_pairs=2, overwrite=True, **kw)
    assert len(os.listdir(tmp_path / "FlyingChairs_release" / "data")) == 6


def test_cli_with_self_check(tmp_path):
    out = tmp_path / "FlyingChairs"
    cmd = [
        sys.executable, os.path.join(REPO, "tools", "datasets", "make_synthetic.py"),
        "flyingchairs", "--out", str(out), "--num-pairs", "3", "--seed", "1",
        "--height", "48", "--width", "64", "--self-check",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 3 pairs" in proc.stdout and "self-check" in proc.stdout
    assert len(read_split_file(out / "FlyingChairs_train_val.txt")) == 3
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    bad = subprocess.run(cmd[:2] + ["nosuchdataset"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
