"""Ground truth with unknown pixels (Middlebury's ``inf``, SceneFlow's 0): colour scales and the
error map use only the known (finite, positive) pixels."""

import warnings

import cv2
import numpy as np
import pytest

from hat.data.readers.pfm import write_pfm
from hat.infer import DisparityInfer, parse_model_inputs
from hat.visualize.disparity import (
    disparity_color_max,
    disparity_error_map,
    disparity_to_color,
    make_disparity_panel,
)

H, W = 60, 90


@pytest.fixture()
def scene(tmp_path):
    """A pair, a ground truth in [2, 30) px with an ``inf`` block and a 0 block, and a
    prediction off by 1 px (2 px in one column)."""
    g = np.random.default_rng(0)
    left = g.integers(0, 255, (H, W, 3), dtype=np.uint8)
    right = g.integers(0, 255, (H, W, 3), dtype=np.uint8)
    gt = g.uniform(2, 30, (H, W)).astype(np.float32)
    gt[40:, 60:] = np.inf  # unknown, Middlebury convention
    gt[45:, :20] = 0.0  # unknown, SceneFlow convention
    pred = np.where(np.isfinite(gt) & (gt > 0), gt + 1.0, 12.0).astype(np.float32)
    pred[:, 50] += 1.0
    paths = {"imgl": tmp_path / "l.png", "imgr": tmp_path / "r.png", "gt": tmp_path / "gt.pfm"}
    cv2.imwrite(str(paths["imgl"]), left[..., ::-1])
    cv2.imwrite(str(paths["imgr"]), right[..., ::-1])
    write_pfm(paths["gt"], gt)
    return gt, pred, paths


def _known(gt):
    return np.isfinite(gt) & (gt > 0)


def test_color_scale_ignores_unknown_pixels(scene):
    gt, pred, _ = scene
    top = float(gt[_known(gt)].max())
    assert 29 < top < 30
    assert disparity_color_max(gt) == top
    assert disparity_color_max(np.full((2, 2), np.inf), pred) == float(pred.max())
    assert disparity_color_max(None, np.zeros((2, 2))) == 1.0
    img = disparity_to_color(gt)
    np.testing.assert_array_equal(img, disparity_to_color(gt, top))
    assert (img[~_known(gt)] == 0).all()
    assert len(np.unique(img[_known(gt)], axis=0)) > 50  # a real colour map, not one colour
    with pytest.raises(ValueError, match="max_disp must be a finite number > 0"):
        disparity_to_color(gt, max_disp=np.inf)


def test_error_map_uses_known_ground_truth(scene):
    gt, pred, _ = scene
    img, stats = disparity_error_map(pred, gt)
    known = _known(gt)
    expected = np.abs(pred - gt)[known]
    assert stats["EPE"] == pytest.approx(float(expected.mean()))
    assert stats["EPE"] == pytest.approx(1.0 + H / known.sum())  # +1 px in column 50
    assert stats["valid"] == pytest.approx(known.mean())
    assert (img[~known] == 0).all() and (img[known] != 0).any(axis=-1).all()
    # non-finite predictions (here 2 % of the pixels, above the 99th percentile) do not
    # flatten the scale: they are drawn at the red end, the rest as before
    bad = pred.copy()
    bad[:2] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no inf - inf / nan arithmetic
        img_bad, _ = disparity_error_map(bad, gt)
    np.testing.assert_array_equal(img_bad[2:], img[2:])
    red = cv2.applyColorMap(np.full((1, 1), 255, np.uint8), cv2.COLORMAP_JET)[0, 0, ::-1]
    assert (img_bad[:2] == red).all()


def test_infer_save_with_inf_ground_truth(scene, tmp_path):
    gt, pred, paths = scene
    task = DisparityInfer()
    text = f"imgl:{paths['imgl']},imgr:{paths['imgr']},gt:{paths['gt']}"
    raw = task.load_inputs(parse_model_inputs(text, task))
    assert np.isinf(raw["gt"]).sum() == 20 * 30
    out = task.save(pred, raw, str(tmp_path / "out"))
    top = float(gt[_known(gt)].max())

    def png(name):
        return cv2.imread(out[name])[..., ::-1]

    disp = png("disparity.png")
    np.testing.assert_array_equal(disp, disparity_to_color(pred, top, scale_bar=True))
    assert len(np.unique(disp[:, : W // 2].reshape(-1, 3), axis=0)) > 50
    err, stats = disparity_error_map(pred, gt)
    np.testing.assert_array_equal(png("error.png"), err)
    panel = png("panel.png")
    np.testing.assert_array_equal(
        panel, make_disparity_panel(raw["imgl"], raw["imgr"], pred, gt, max_disp=top)
    )
    gt_tile = panel[H + 30 :, :W]  # below the tile's label
    known = _known(gt)[30:]
    assert (gt_tile[~known] == 0).all()
    assert len(np.unique(gt_tile[known], axis=0)) > 50
    line = task.summary(pred)
    assert f"EPE {stats['EPE']:.3f} px" in line and "inf" not in line and "nan" not in line
