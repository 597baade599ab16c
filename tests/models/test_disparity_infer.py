"""DisparityInfer (the infer tools' stereo adapter) and the disparity pictures."""

import cv2
import numpy as np
import pytest
import torch

from hat.data.readers.pfm import read_pfm, write_pfm
from hat.errors import UserInputError
from hat.infer import DisparityInfer, InferInputError, parse_model_inputs
from hat.utils.cli import ToolError
from hat.visualize.disparity import (
    depth_from_disparity,
    disparity_error_map,
    disparity_to_color,
    make_disparity_panel,
)


@pytest.fixture()
def pair(tmp_path):
    g = np.random.default_rng(0)
    left = g.integers(0, 255, (30, 45, 3), dtype=np.uint8)
    right = g.integers(0, 255, (30, 45, 3), dtype=np.uint8)
    gt = g.uniform(1, 20, (30, 45)).astype(np.float32)
    gt[0, :5] = 0.0  # no ground truth there
    paths = {"imgl": tmp_path / "l.png", "imgr": tmp_path / "r.png", "gt": tmp_path / "d.pfm"}
    cv2.imwrite(str(paths["imgl"]), left[..., ::-1])
    cv2.imwrite(str(paths["imgr"]), right[..., ::-1])
    write_pfm(paths["gt"], gt)
    return left, right, gt, paths


def test_eager_batch_pads_and_crops_back(pair):
    left, right, gt, paths = pair
    task = DisparityInfer(pad_multiple=16, max_disp=64)
    values = parse_model_inputs(f"imgl:{paths['imgl']},imgr:{paths['imgr']}", task)
    raw = task.load_inputs(values)
    np.testing.assert_array_equal(raw["imgl"], left)
    batch, ctx = task.make_batch(raw, None)
    assert batch["img"].shape == (1, 6, 32, 48)
    torch.testing.assert_close(
        batch["img"][0, 3:, :30, :45].permute(1, 2, 0).byte(), torch.from_numpy(right)
    )
    out = torch.arange(32 * 48, dtype=torch.float32).view(1, 1, 32, 48)
    disp = task.postprocess([out], ctx)
    assert disp.shape == (30, 45) and disp[1, 0] == 48.0


def test_static_size_rescales_disparity(pair):
    task = DisparityInfer()
    _, _, _, paths = pair
    raw = task.load_inputs({"imgl": str(paths["imgl"]), "imgr": str(paths["imgr"])})
    batch, ctx = task.make_batch(raw, (16, 90))  # twice as wide as the images
    assert batch["img"].shape == (1, 6, 16, 90)
    disp = task.postprocess([torch.full((1, 1, 16, 90), 10.0)], ctx)
    np.testing.assert_allclose(disp, 5.0)  # 10 px at 90 wide = 5 px at 45 wide


def test_save_writes_disparity_depth_error_and_panel(pair, tmp_path):
    left, right, gt, paths = pair
    task = DisparityInfer(max_disp=64)
    text = f"imgl:{paths['imgl']},imgr:{paths['imgr']},baseline:0.5,f:100,gt:{paths['gt']}"
    raw = task.load_inputs(parse_model_inputs(text, task))
    pred = gt + 1.0
    out = task.save(pred, raw, str(tmp_path / "out"))
    assert sorted(out) == sorted(
        [
            "disparity.png",
            "disparity.pfm",
            "depth.png",
            "depth.npy",
            "depth.pfm",
            "error.png",
            "panel.png",
        ]
    )
    np.testing.assert_array_equal(read_pfm(out["disparity.pfm"]), pred)
    depth = np.load(out["depth.npy"])
    np.testing.assert_allclose(depth, 0.5 * 100 / pred, rtol=1e-6)
    np.testing.assert_array_equal(read_pfm(out["depth.pfm"]), depth)
    panel = cv2.imread(out["panel.png"])
    assert panel.shape == (60, 135, 3)
    line = task.summary(pred)
    assert "EPE 1.000 px" in line and "D1 0.00%" in line and "depth median" in line


def test_bad_inputs_are_named(pair, tmp_path):
    _, _, _, paths = pair
    task = DisparityInfer()
    with pytest.raises(InferInputError, match="both baseline and f"):
        task.load_inputs({"imgl": str(paths["imgl"]), "imgr": str(paths["imgr"]), "f": "3"})
    with pytest.raises(InferInputError, match="baseline: must be > 0"):
        task.load_inputs(
            {"imgl": str(paths["imgl"]), "imgr": str(paths["imgr"]), "f": "3", "baseline": "-1"}
        )
    with pytest.raises(InferInputError, match=".pfm"):
        task.load_inputs(
            {"imgl": str(paths["imgl"]), "imgr": str(paths["imgr"]), "gt": str(paths["imgl"])}
        )
    small = tmp_path / "small.pfm"
    write_pfm(small, np.ones((3, 4), np.float32))
    with pytest.raises(InferInputError, match="differ in size"):
        task.load_inputs({"imgl": str(paths["imgl"]), "imgr": str(paths["imgr"]), "gt": str(small)})
    with pytest.raises(InferInputError, match="missing imgr"):
        parse_model_inputs(f"imgl:{paths['imgl']}", task)


def test_infer_errors_are_library_errors():
    # library code raises a ValueError the CLI layer knows, never the CLI's own error type
    assert issubclass(InferInputError, UserInputError) and issubclass(InferInputError, ValueError)
    assert not issubclass(InferInputError, ToolError)


def test_pictures():
    d = np.array([[0.0, 5.0], [10.0, np.nan]])
    img = disparity_to_color(d, max_disp=10.0)
    assert img.shape == (2, 2, 3) and img.dtype == np.uint8
    assert (img[0, 0] == 0).all() and (img[1, 1] == 0).all()  # unknown: black
    assert img[1, 0, 0] > img[1, 0, 2]  # largest disparity: red end
    depth = depth_from_disparity(d, 2.0, 50.0)
    np.testing.assert_allclose(depth, [[0.0, 20.0], [10.0, 0.0]])
    gt = np.array([[0.0, 4.0], [15.0, 5.0]])
    err, stats = disparity_error_map(np.array([[1.0, 5.0], [10.0, 5.0]]), gt)
    assert stats["EPE"] == pytest.approx((1 + 5 + 0) / 3) and stats["D1"] == pytest.approx(1 / 3)
    assert (err[0, 0] == 0).all()
    panel = make_disparity_panel(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), d)
    assert panel.shape == (2, 6, 3)
