"""A high-precision conv exports as a float32 ``Conv`` on the centred integer codes when every
partial sum is an integer below 2^24 (so ORT's float kernel returns the int32 accumulator
exactly), and as ``ConvInteger`` otherwise; ORT equals the integer model bit for bit on both
sides of the bound, with inputs at the extremes that reach it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_helpers import quantize_model
from torch import nn

from hat import nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import EXACT_INT_CONV_OP, optimized_op_counts, run_onnx
from hat.quantization.quantized.conv import IntConv2d

C_IN = 128


class HpConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.head = hnn.ConvModule2d(C_IN, 3, 3, padding=1)
        self.dequant = hnn.DeQuantStub()
        self.high_precision_outputs = ["head"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.head(self.quant(x)))


def _int_model_with_l1(excess: int) -> tuple[nn.Module, IntConv2d, torch.Tensor]:
    """The integer model whose head has ``max_c sum|w[c]| * max|x - zp| = 2^24 - 1 + excess``
    (as near as int8 weights allow), and an input at the code extremes."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    calib = [(torch.randn(1, C_IN, 8, 8, generator=g) * 2,)]
    _, im = quantize_model(HpConvNet(), calib)
    conv = next(m for m in im.modules() if isinstance(m, IntConv2d))
    assert conv.high_precision
    zp = int(im.quant(calib[0][0]).q_zero_point)
    amax = max(zp, 255 - zp)
    target = (2**24 - 1 + excess) // amax  # wanted sum of |w| per output channel
    n = C_IN * 9
    w = torch.full((3, n), target // n, dtype=torch.int64)
    w[:, : target % n] += 1
    assert int(w.max()) <= 127
    w[1] = -w[1]  # one channel all negative, one alternating
    w[2, 1::2] = -w[2, 1::2]
    conv.weight = w.reshape(3, C_IN, 3, 3).to(torch.int8)
    conv.weight_f32 = conv.weight.float()
    conv.l1 = int(conv.weight.to(torch.int64).abs().flatten(1).sum(1).max())
    conv.bias = torch.zeros(3, dtype=torch.int32)
    conv.bias_f32, conv.bias_max = conv.bias.float(), 0
    scale = float(conv.input_scale)
    # codes at the far extreme from the zero point everywhere (plus one row at the other)
    far = (0 - zp) if zp > 127 else (255 - zp)
    x = torch.full((1, C_IN, 8, 8), far * scale)
    x[..., 0, :] = -far * scale
    return im, conv, x


@pytest.mark.parametrize("excess", [-200, 0, 300])
def test_exact_float_conv_or_conv_integer_is_bitwise_equal(tmp_path, excess):
    im, conv, x = _int_model_with_l1(excess)
    exact = conv._float32_conv_is_exact(im.quant(x))
    path = tmp_path / "hp.onnx"
    export_int_model_to_onnx(im, {"x": x}, path)
    counts = optimized_op_counts(path)
    if exact:
        assert counts[EXACT_INT_CONV_OP] == 1 and "ConvInteger" not in counts, dict(counts)
    else:
        assert counts["ConvInteger"] == 1 and EXACT_INT_CONV_OP not in counts, dict(counts)
    y_int = im(x).numpy()
    # the accumulators reach the bound: interior pixels sum the full kernel at the extreme
    acc = np.abs(y_int / conv.bias_scale.numpy().reshape(1, -1, 1, 1)).max()
    assert acc > 0.99 * 2**24 * conv.l1 / (conv.l1 + 1), acc
    for level in ("disable", "all"):
        y = run_onnx(path, {"x": x}, level=level)["output"]
        assert np.array_equal(y, y_int), (level, np.abs(y - y_int).max())


def test_the_bound_decides_the_export():
    """Just below ``2^24`` the float path is taken, at and above it ConvInteger."""
    flags = {}
    for excess in (-200, 0, 300):
        im, conv, x = _int_model_with_l1(excess)
        q = im.quant(x)
        zp = int(q.q_zero_point)
        flags[excess] = (conv._float32_conv_is_exact(q), max(zp, 255 - zp) * conv.l1)
    assert flags[-200][0] and flags[-200][1] < 2**24
    assert not flags[300][0] and flags[300][1] >= 2**24
