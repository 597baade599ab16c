"""IPM points against a hand-computed pinhole projection, and the float view transformer.

Camera: ego origin + (0, 0, 1.5) m, looking along ego +x (camera x = -ego y, y = -ego z,
z = ego x), K = [[120, 0, 200], [0, 120, 100], [0, 0, 1]]. Grid bev_size (8.5, 8.5, 1.0): 17 x 17
cells, row i <-> y = i - 8, column j <-> x = j - 8. Image augmentation: resize by 0.5, then crop
at (10, 20): u' = 0.5 u - 10, v' = 0.5 v - 20. Features: stride 4, 20 x 40.

Ground point (6, 2, 0) (cell i=10, j=14): camera (-2, 1.5, 6), u = 200 - 120 * 2 / 6 = 160,
v = 100 + 120 * 1.5 / 6 = 130; augmented (70, 45); feature u = 70.5 / 4 - 0.5 = 17.125,
v = 45.5 / 4 - 0.5 = 10.875.
"""

import math

import pytest
import torch

from hat.models.view_transformers import OUTSIDE, IpmSample, WrappingTransformer, ipm_points
from hat.models.view_transformers.ipm_points import bev_grid_shape
from hat.registry import build_from_registry

BEV = (8.5, 8.5, 1.0)
FEAT_HW, STRIDE = (20, 40), 4


def _camera(b: int = 1, v: int = 1):
    k = torch.tensor([[120.0, 0, 200], [0, 120, 100], [0, 0, 1]])
    s2e = torch.eye(4)
    s2e[:3, :3] = torch.tensor([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # columns: cam axes in ego
    s2e[:3, 3] = torch.tensor([0.0, 0.0, 1.5])
    aug = torch.tensor([[0.5, 0, -10], [0, 0.5, -20], [0, 0, 1]])
    rep = lambda t: t.expand(b, v, *t.shape).clone()  # noqa: E731
    return rep(k), rep(s2e), rep(aug)


def _rot_z(theta: float) -> torch.Tensor:
    m = torch.eye(4)
    c, s = math.cos(theta), math.sin(theta)
    m[:2, :2] = torch.tensor([[c, -s], [s, c]])
    return m


def test_known_ground_point_with_image_augmentation():
    k, s2e, aug = _camera()
    pts = ipm_points(k, s2e, aug, None, BEV, FEAT_HW, STRIDE)
    assert pts.shape == (1, 1, 17, 17, 2) and pts.dtype == torch.float32
    torch.testing.assert_close(pts[0, 0, 10, 14], torch.tensor([17.125, 10.875]))
    # without img_aug: the plain image pixel (160, 130) at stride 4
    raw = ipm_points(k, s2e, None, None, BEV, (40, 80), STRIDE)
    torch.testing.assert_close(raw[0, 0, 10, 14], torch.tensor([160.5 / 4 - 0.5, 130.5 / 4 - 0.5]))


def test_bev_aug_rotation_moves_the_cell():
    k, s2e, aug = _camera()
    # ego -> augmented ego rotates by +90 deg: ego (6, 2) is seen at augmented (-2, 6),
    # i.e. row 14, column 6
    pts = ipm_points(k, s2e, aug, _rot_z(math.pi / 2)[None], BEV, FEAT_HW, STRIDE)
    torch.testing.assert_close(pts[0, 0, 14, 6], torch.tensor([17.125, 10.875]))
    assert (pts[0, 0, 10, 14] == OUTSIDE).all()  # ego (2, -6): off the image


def test_behind_camera_and_off_image_cells_are_outside():
    k, s2e, aug = _camera(b=2, v=3)
    pts = ipm_points(k, s2e, aug, None, BEV, FEAT_HW, STRIDE)
    assert pts.shape == (2, 3, 17, 17, 2)
    assert (pts[:, :, :, :8] == OUTSIDE).all()  # x <= 0: behind the camera (depth <= 0)
    # x = 6: feature u = (90.5 - 10 y) / 4 - 0.5; y = -8 gives 42.125 > Wf = 40 (outside),
    # y = -7 gives 39.625 (kept: within one pixel of the map)
    assert (pts[:, :, 0, 14] == OUTSIDE).all()
    torch.testing.assert_close(pts[0, 0, 1, 14, 0], torch.tensor(39.625))
    inside = (pts != OUTSIDE).all(-1)
    u, v = pts[..., 0][inside], pts[..., 1][inside]
    assert inside.any() and u.min() >= -1 and u.max() <= 40 and v.min() >= -1 and v.max() <= 20


def test_ipm_points_rejects_bad_shapes():
    k, s2e, aug = _camera()
    with pytest.raises(ValueError, match="sensor2ego"):
        ipm_points(k, s2e[:, :, :3], aug, None, BEV, FEAT_HW, STRIDE)
    with pytest.raises(ValueError, match="bev_aug"):
        ipm_points(k, s2e, aug, torch.eye(4), BEV, FEAT_HW, STRIDE)


def _transformer(**kw):
    kw = dict(dict(bev_size=(4.0, 3.0, 0.5), num_views=2, bev_upscale=1, drop_prob=0.0), **kw)
    return build_from_registry(dict(type="WrappingTransformer", **kw))


def test_sampling_at_pixel_centres_and_between_them():
    vt = _transformer().eval()
    hb, wb = bev_grid_shape((4.0, 3.0, 0.5))
    assert (hb, wb) == (12, 16)
    feats = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    feats[1] = -feats[1]  # view 1 never wins the maximum
    pts = torch.full((2, hb, wb, 2), OUTSIDE)
    pts[0, 0, 0] = torch.tensor([3.0, 2.0])  # a pixel centre
    pts[0, 0, 1] = torch.tensor([3.25, 2.5])  # between four centres
    pts[0, 0, 2] = torch.tensor([-0.5, 0.0])  # half a pixel left of the map: half weight
    out = vt(feats, pts)
    assert out.shape == (1, 3, hb, wb)
    f = feats[0]
    torch.testing.assert_close(out[0, :, 0, 0], f[:, 2, 3])
    expected = 0.375 * f[:, 2, 3] + 0.125 * f[:, 2, 4] + 0.375 * f[:, 3, 3] + 0.125 * f[:, 3, 4]
    torch.testing.assert_close(out[0, :, 0, 1], expected)
    torch.testing.assert_close(out[0, :, 0, 2], 0.5 * f[:, 0, 0])
    assert (out[0, :, 1:] == 0).all()  # OUTSIDE everywhere else: max(0, 0)


def test_max_over_views_upsampling_and_view_drop():
    vt = _transformer(bev_upscale=2, drop_prob=0.5)
    feats = torch.randn(4, 3, 5, 7)
    pts = torch.rand(4, 12, 16, 2) * torch.tensor([6.0, 4.0])
    views = IpmSample(num_views=2).sample_views(feats, pts)
    fused = views.amax(1)
    out = vt.eval()(feats, pts)
    assert out.shape == (2, 3, 24, 32)
    torch.testing.assert_close(
        out, torch.nn.functional.interpolate(fused, scale_factor=2, mode="bilinear")
    )
    vt.train()
    torch.manual_seed(3)
    keep = vt.sample.keep_mask(2, feats.device)
    torch.manual_seed(3)
    dropped = vt.sample(feats, pts)
    assert keep.sum() < keep.numel()  # this seed drops a view
    torch.testing.assert_close(dropped, (views * keep.view(2, 2, 1, 1, 1)).amax(1))


def test_transformer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="points must be"):
        _transformer()(torch.zeros(2, 3, 5, 7), torch.zeros(2, 11, 16, 2))
    with pytest.raises(ValueError, match="feats must be"):
        _transformer()(torch.zeros(3, 3, 5, 7), torch.zeros(3, 12, 16, 2))
    with pytest.raises(ValueError, match="power of two"):
        WrappingTransformer((4.0, 3.0, 0.5), grid_quant_scale=0.003)
    with pytest.raises(ValueError, match="drop_prob"):
        WrappingTransformer((4.0, 3.0, 0.5), drop_prob=1.0)
