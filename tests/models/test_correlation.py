"""hat.nn.Correlation against the textbook implementation."""

import pytest
import torch

from hat.nn import Correlation
from hat.nn.correlation import correlation_reference


@pytest.mark.parametrize(
    "md,shape",
    [
        (0, (1, 3, 5, 7)),
        (1, (2, 5, 9, 6)),
        (2, (2, 4, 7, 11)),
        (4, (1, 8, 13, 10)),
        (4, (2, 3, 3, 4)),
        (3, (1, 4, 5, 16)),  # width a multiple of the 8-pixel tile
        (5, (1, 2, 6, 23)),  # md > 4: tiles widen to 2 * md
    ],
)
def test_values_and_grads_match_reference(md, shape):
    torch.manual_seed(md)
    a = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    b = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    out = Correlation(md)(a, b)
    ref = correlation_reference(a, b, md)
    assert out.shape == (shape[0], (2 * md + 1) ** 2, shape[2], shape[3])
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    ga, gb = torch.autograd.grad(out, (a, b), g)
    ra, rb = torch.autograd.grad(ref, (a, b), g)
    torch.testing.assert_close(ga, ra)
    torch.testing.assert_close(gb, rb)


def test_gradcheck():
    torch.manual_seed(0)
    a = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: Correlation(1)(x, y), (a, b))


def test_gradient_to_one_input_only():
    a = torch.randn(1, 3, 6, 6, requires_grad=True)
    b = torch.randn(1, 3, 6, 6)
    Correlation(2)(a, b).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_no_grad_path_equals_reference():
    a, b = torch.randn(2, 6, 9, 12), torch.randn(2, 6, 9, 12)
    with torch.no_grad():
        torch.testing.assert_close(Correlation(3)(a, b), correlation_reference(a, b, 3))


def test_known_values():
    # f2 = f1 shifted right by one pixel: the (dy=0, dx=+1) channel equals mean_c f1^2
    md, k = 2, 5
    f1 = torch.randn(1, 4, 6, 8)
    f2 = torch.zeros_like(f1)
    f2[..., 1:] = f1[..., :-1]
    out = Correlation(md)(f2, f1)  # f2(x) . f1(x - 1)  -> displacement dx = -1
    chan = md * k + (md - 1)
    torch.testing.assert_close(out[0, chan, :, 1:], (f1[..., :-1] ** 2).mean(1)[0])
    zero = md * k + md
    torch.testing.assert_close(out[0, zero], (f1 * f2).mean(1)[0])
    # displacements leaving the map read zero padding
    assert out[0, 0, 0, 0] == 0


def test_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        Correlation(1)(torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 5))
    with pytest.raises(ValueError):
        Correlation(-1)
