"""hat.nn.CostVolume / ConcatVolume / SoftArgmin (float) against textbook implementations."""

import pytest
import torch

from hat.nn import ConcatVolume, CostVolume, SoftArgmin
from hat.nn.cost_volume import gwc_volume_reference


@pytest.mark.parametrize(
    "shape,max_disp,groups",
    [
        ((2, 8, 5, 7), 4, 2),
        ((1, 6, 3, 4), 6, 3),  # max_disp > width: the last planes are all zero
        ((2, 16, 4, 9), 3, 1),
        ((1, 12, 2, 11), 5, 12),  # one channel per group
    ],
)
def test_gwc_values_and_grads_match_reference(shape, max_disp, groups):
    torch.manual_seed(0)
    left = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    right = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    out = CostVolume(max_disp, groups)(left, right)
    ref = gwc_volume_reference(left, right, max_disp, groups)
    assert out.shape == (shape[0], groups * max_disp, shape[2], shape[3])
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (left, right), g)
    want = torch.autograd.grad(ref, (left, right), g)
    torch.testing.assert_close(got, want)


def test_gwc_gradcheck_and_single_input_grad():
    left = torch.randn(1, 4, 3, 6, dtype=torch.float64, requires_grad=True)
    right = torch.randn(1, 4, 3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: CostVolume(3, 2)(a, b), (left, right))
    frozen = right.detach()
    CostVolume(3, 2)(left, frozen).sum().backward()
    assert left.grad is not None and left.grad.abs().sum() > 0


def test_gwc_known_disparity():
    # right = left shifted left by 3 px: left(x) matches right(x - 3), so channel d=3 of each
    # group holds the group's mean square there and x < 3 reads zero
    torch.manual_seed(1)
    right = torch.randn(1, 4, 2, 10)
    left = torch.zeros_like(right)
    left[..., 3:] = right[..., :-3]
    out = CostVolume(5, 2)(left, right).view(1, 2, 5, 2, 10)
    expect = (left**2).view(1, 2, 2, 2, 10).mean(2)
    torch.testing.assert_close(out[:, :, 3, :, 3:], expect[..., 3:])
    assert torch.all(out[:, :, 3, :, :3] == 0) and torch.all(out[:, :, 4, :, :4] == 0)


def test_concat_volume_layout():
    left = torch.arange(1, 1 + 2 * 2 * 6, dtype=torch.float32).view(1, 2, 2, 6)
    right = -left
    out = ConcatVolume(3)(left, right)
    assert out.shape == (1, 4 * 3, 2, 6)
    vol = out.view(1, 4, 3, 2, 6)  # (channel of cat(left, right), disparity, y, x)
    for d in range(3):
        torch.testing.assert_close(vol[:, :2, d, :, d:], left[..., d:])
        torch.testing.assert_close(vol[:, 2:, d, :, d:], right[..., : 6 - d])
        assert torch.all(vol[:, :, d, :, :d] == 0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        CostVolume(2, 1)(torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 5))
    with pytest.raises(ValueError, match="groups"):
        CostVolume(2, 3)(torch.randn(1, 4, 3, 4), torch.randn(1, 4, 3, 4))
    with pytest.raises(ValueError):
        CostVolume(0)
    with pytest.raises(ValueError, match="12"):
        SoftArgmin(12)(torch.randn(1, 5, 2, 2))


def test_soft_argmin_one_hot_and_uniform():
    d = 12
    scores = torch.full((2, d, 3, 4), -50.0)
    idx = torch.randint(0, d, (2, 3, 4))
    scores.scatter_(1, idx.unsqueeze(1), 50.0)
    out = SoftArgmin(d, value_scale=1.0 / d)(scores)
    assert out.shape == (2, 1, 3, 4)
    torch.testing.assert_close(out[:, 0], idx.float() / d)
    uniform = SoftArgmin(d)(torch.zeros(1, d, 1, 1))
    torch.testing.assert_close(uniform, torch.full((1, 1, 1, 1), (d - 1) / 2))


def test_no_grad_path_equals_autograd_path():
    left, right = torch.randn(2, 8, 5, 9), torch.randn(2, 8, 5, 9)
    with torch.no_grad():
        plain = CostVolume(11, 4)(left, right)  # max_disp > width: trailing zero planes
    grad_path = CostVolume(11, 4)(left.requires_grad_(), right)
    assert grad_path.grad_fn is not None
    torch.testing.assert_close(plain, grad_path.detach())
