import os
import subprocess
import sys

import numpy as np
import pytest

from hat.data.readers.image import read_image
from hat.data.readers.pfm import read_pfm_header
from hat.data.readers.sceneflow_layout import SceneFlowLayout
from hat.data.synthetic.sceneflow import make_sceneflow, render_sample, sample_plan
from hat.data.synthetic.stereo_scene import check_stereo, visible_from_disparity

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBSETS = ("FlyingThings3D", "Driving", "Monkaa")


def test_deterministic_by_seed(tmp_path, tree_digest):
    kw = dict(num_train=4, num_test=1, height=64, width=96, max_disp=12)
    make_sceneflow(str(tmp_path / "a"), seed=3, **kw)
    make_sceneflow(str(tmp_path / "b"), seed=3, num_workers=2, **kw)
    make_sceneflow(str(tmp_path / "c"), seed=4, **kw)
    a, b, c = (tree_digest(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == 5 * 3 + 3  # 2 PNGs + 1 PFM per pair, 2 lists, README
    data = [k for k in a if k.endswith((".png", ".pfm"))]
    assert len(data) == 15 and all(a[k] != c[k] for k in data)


def test_sample_does_not_depend_on_counts():
    small, big = sample_plan(6, 2), sample_plan(40, 9)
    assert small["test"] == big["test"][:2]
    first = small["train"][0]
    assert first == big["train"][0]
    a = render_sample(5, first, 64, 128, 16)
    b = render_sample(5, first, 64, 128, 16)
    np.testing.assert_array_equal(a.right, b.right)
    np.testing.assert_array_equal(a.disp, b.disp)
    assert not np.array_equal(a.left, render_sample(5, small["train"][1], 64, 128, 16).left)


def test_plan_shares_and_real_folder_names():
    plan = sample_plan(100, 12)
    subsets = [s.subset for s in plan["train"]]
    assert [subsets.count(s) for s in SUBSETS] == [63, 12, 25]
    assert {s.subset for s in plan["test"]} == {"FlyingThings3D"}
    ft_test = plan["test"][11]
    assert ft_test.left == "FlyingThings3D/frames_finalpass/TEST/B/0000/left/0007.png"
    driving = [s for s in plan["train"] if s.subset == "Driving"][9]
    assert driving.disp == "Driving/disparity/15mm_focallength/scene_backwards/slow/left/0002.pfm"
    monkaa = [s for s in plan["train"] if s.subset == "Monkaa"][8]
    assert monkaa.right == "Monkaa/frames_finalpass/a_rain_of_stones_x2/right/0001.png"


def test_files_reconstruct_left_from_right(sceneflow_root):
    layout = SceneFlowLayout(sceneflow_root)
    for entry in layout.entries("train") + layout.entries("test"):
        left, right, disp = layout.read_sample(entry)
        assert read_pfm_header(os.path.join(sceneflow_root, entry.disp)).little_endian
        assert disp.min() >= 0 and disp.max() <= 1.2 * 16
        check = check_stereo(left, right, disp)  # files only: occlusions from the disparity
        assert check["warp_mae"] < 8 and check["ratio"] < 0.4, (entry.left, check)
        assert check["valid_fraction"] > 0.6


@pytest.mark.parametrize("subset", SUBSETS)
def test_default_size_range_and_occlusions(subset):
    plan = [s for s in sample_plan(30, 0)["train"] if s.subset == subset][:2]
    for sample in plan:
        pair = render_sample(0, sample, 320, 576, 64.0)
        assert pair.left.shape == (320, 576, 3) and pair.disp.dtype == np.float32
        assert 0.5 <= pair.disp.min() and pair.disp.max() <= 1.2 * 64
        assert 5 < pair.disp.mean() < 45 and pair.disp.std() > 3
        check = check_stereo(pair.left, pair.right, pair.disp, pair.valid)
        assert check["warp_mae"] < 8 and check["nowarp_mae"] > 12 and check["ratio"] < 0.4, check
        assert 0.6 < check["valid_fraction"] < 0.99  # borders and occlusions are excluded
        from_disp = visible_from_disparity(pair.disp)
        agree = (from_disp == pair.valid).mean()
        assert agree > 0.97, agree


def test_shifted_right_image_breaks_the_check():
    pair = render_sample(1, sample_plan(1, 0)["train"][0], 96, 160, 20)
    good = check_stereo(pair.left, pair.right, pair.disp, pair.valid)
    bad = check_stereo(pair.left, pair.right, pair.disp + 2.0, pair.valid)
    assert bad["warp_mae"] > 2 * good["warp_mae"]


def test_rerun_skips_or_refuses(tmp_path):
    kw = dict(height=64, width=64, max_disp=8)
    out = str(tmp_path / "sf")
    assert make_sceneflow(out, 1, 1, **kw)["skipped"] == 0
    png = os.path.join(out, "FlyingThings3D/frames_finalpass/TEST/A/0000/left/0006.png")
    mtime = os.path.getmtime(png)
    assert make_sceneflow(out, 1, 1, **kw)["skipped"] == 1
    assert os.path.getmtime(png) == mtime
    with pytest.raises(FileExistsError, match="--overwrite"):
        make_sceneflow(out, 2, 1, **kw)
    os.remove(os.path.join(out, "README.txt"))  # as if interrupted
    with pytest.raises(FileExistsError, match="not completely generated"):
        make_sceneflow(out, 1, 1, **kw)
    make_sceneflow(out, 3, 0, overwrite=True, **kw)
    layout = SceneFlowLayout(out)
    assert len(layout.entries("train")) == 3 and not os.path.exists(png)
    with pytest.raises(ValueError, match="max_disp"):
        make_sceneflow(out, 1, 1, max_disp=300, overwrite=True)


def test_cli_with_self_check(tmp_path):
    out = tmp_path / "SceneFlow"
    cmd = [
        sys.executable, os.path.join(REPO, "tools", "datasets", "make_synthetic.py"),
        "sceneflow", "--out", str(out), "--num-train", "3", "--num-test", "1", "--seed", "1",
        "--height", "64", "--width", "128", "--max-disp", "16", "--self-check",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 3 train and 1 test pairs" in proc.stdout and "self-check" in proc.stdout
    entry = SceneFlowLayout(str(out)).entries("test")[0]
    assert read_image(os.path.join(out, entry.left)).shape == (64, 128, 3)
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 0 and "nothing to do" in again.stdout
