"""The BEV latency benchmark's inputs: the camera-rig sampling points and the ``--inputs`` file of
bench_deploy_latency (timings themselves are not tested)."""

import os
import sys

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_bev_latency  # noqa: E402
import bench_deploy_latency  # noqa: E402

from hat.data.readers.nuscenes_constants import NUSCENES_CAMERAS  # noqa: E402
from hat.models.view_transformers.ipm_points import OUTSIDE  # noqa: E402
from hat.utils.run_config import RunConfig  # noqa: E402


@pytest.fixture(scope="module")
def recipe():
    return RunConfig.load(os.path.join(ROOT, bench_bev_latency.RECIPE))


def test_rig_points_cover_the_recipe_grid_like_a_camera_rig(recipe):
    pts = bench_bev_latency.rig_points(recipe)
    assert pts.shape == (6, 128, 128, 2) and pts.dtype == np.float32
    seen = np.any(pts != OUTSIDE, axis=-1)
    # points kept lie within one pixel of the 64 x 120 stride-8 feature map
    u, v = pts[..., 0][seen], pts[..., 1][seen]
    assert u.min() >= -1 and u.max() <= 120 and v.min() >= -1 and v.max() <= 64
    # every camera sees part of the grid; the front one only cells ahead of its lens (x > 1.7 m)
    assert all(seen[i].any() for i in range(6))
    x = -51.2 + (np.arange(128) + 0.5) * 0.8  # column centres (ego x)
    front = seen[NUSCENES_CAMERAS.index("CAM_FRONT")]
    assert front.any(axis=0)[x <= 1.7].sum() == 0 and front.any(axis=0)[x > 10].all()
    assert front.any(axis=1).sum() < 128  # a cone, not the whole half plane
    # the rig sees most of the grid; a view sees about a sixth of it
    assert 0.9 < seen.any(axis=0).mean() <= 1.0
    assert 0.1 < seen.mean() < 0.3


def test_inputs_file_replaces_the_named_input(recipe, tmp_path):
    path = str(tmp_path / "inputs.npz")
    pts = bench_bev_latency.rig_points(recipe)
    np.savez(path, points=pts)
    feeds = bench_deploy_latency._inputs(recipe, None, seed=3, fixed=path)
    assert torch.equal(feeds["points"], torch.from_numpy(pts))
    img = feeds["img"]
    assert img.shape == (6, 3, 512, 960) and -1 <= img.min() and img.max() <= 1
    assert torch.equal(img, bench_deploy_latency._inputs(recipe, None, seed=3)["img"])
    np.savez(path, points=pts[:, :64])
    with pytest.raises(ValueError, match=r"'points' has shape \(6, 64, 128, 2\), the deploy"):
        bench_deploy_latency._inputs(recipe, None, fixed=path)
