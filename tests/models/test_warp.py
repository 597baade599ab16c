"""hat.nn.Warp: backward warping with the PWC-Net validity mask."""

import torch

from hat.nn import Warp


def _img(h=6, w=8, c=3):
    return torch.arange(c * h * w, dtype=torch.float32).view(1, c, h, w) + 1.0


def test_integer_shift_and_border_mask():
    x = _img()
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0] = 2.0  # u = +2: out(x, y) = x(x + 2, y)
    flow[:, 1] = -1.0  # v = -1: out(x, y) = x(x, y - 1)
    out = Warp()(x, flow)
    torch.testing.assert_close(out[..., 1:, :-2], x[..., :-1, 2:])
    assert (out[..., :, -2:] == 0).all()  # sampled right of the map
    assert (out[..., 0, :] == 0).all()  # sampled above the map


def test_zero_flow_is_identity_and_mask_off_keeps_partial_samples():
    x = _img()
    torch.testing.assert_close(Warp()(x, torch.zeros(1, 2, 6, 8)), x)
    flow = torch.full((1, 2, 6, 8), 0.0)
    flow[:, 0] = 0.5  # half a pixel: the last column blends with the zero padding
    masked = Warp(use_mask=True)(x, flow)
    unmasked = Warp(use_mask=False)(x, flow)
    assert (masked[..., -1] == 0).all()
    torch.testing.assert_close(unmasked[..., -1], x[..., -1] * 0.5)
    torch.testing.assert_close(masked[..., :-1], (x[..., :-1] + x[..., 1:]) / 2)


def test_align_corners_false_integer_shift():
    x = _img()
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0] = -3.0
    out = Warp(align_corners=False)(x, flow)
    torch.testing.assert_close(out[..., 3:], x[..., :-3])
    assert (out[..., :3] == 0).all()


def test_gradients_reach_features_and_flow():
    x = _img().requires_grad_()
    flow = torch.full((1, 2, 6, 8), 0.3, requires_grad=True)
    Warp()(x, flow).sum().backward()
    assert x.grad.abs().sum() > 0 and flow.grad.abs().sum() > 0
