"""Quantized GroupNorm (MOTR's input projection): exact integer statistics per group, float
element-wise ops ORT reproduces bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_helpers import quantize_model
from torch import nn

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.quantization.quantized.group_norm import IntGroupNorm


class ConvNorm(nn.Module):
    def __init__(self, c: int = 32, groups: int = 8) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.conv = nn.Conv2d(6, c, 1)
        self.norm = nn.GroupNorm(groups, c)
        self.dequant = hnn.DeQuantStub()
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            self.norm.weight.copy_(torch.rand(c, generator=g) + 0.5)
            self.norm.bias.copy_(torch.randn(c, generator=g) * 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.norm(self.conv(self.quant(x))))


def images(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # per-sample spreads and offsets: each group's statistics differ
    return torch.randn(2, 6, 9, 13, generator=g) * (
        torch.rand(2, 1, 1, 1, generator=g) * 2 + 0.3
    ) + torch.randn(2, 6, 1, 1, generator=g)


@pytest.fixture(scope="module")
def quantized():
    torch.manual_seed(0)
    model = ConvNorm().eval()
    reference = ConvNorm().eval()
    reference.load_state_dict(model.state_dict())
    qat, int_model = quantize_model(model, [(images(s),) for s in range(4)])
    return reference, qat, int_model


def test_int_model_normalises_like_float(quantized):
    reference, qat, int_model = quantized
    assert isinstance(int_model.norm, IntGroupNorm)
    x = images(7)
    with torch.no_grad():
        f, q, i = reference(x), qat(x), int_model(x)
    lsb = float(qat.norm.activation_post_process.scale)
    assert float((i - q).abs().max()) <= lsb + 1e-6  # same statistics, same grid
    # against float: the conv output's grid (relative to each group's spread) and the output
    # rounding; a systematic statistics error would shift whole groups by many LSBs
    assert float((i - f).abs().mean()) < lsb
    # the norm itself: the float GroupNorm of the quantized conv output, rounded to the output
    # grid, is what the integer model returns (within one LSB of float rounding)
    with torch.no_grad():
        conv_q = qat.conv(qat.quant(x)).as_subclass(torch.Tensor)
        want = qat.norm.activation_post_process(
            torch.nn.functional.group_norm(
                conv_q, 8, reference.norm.weight, reference.norm.bias, reference.norm.eps
            )
        )
    assert float((i - want).abs().max()) <= lsb * 1.0001
    # per group, the integer model's output has the float output's mean
    gi, gf = i.reshape(2, 8, -1), f.reshape(2, 8, -1)
    torch.testing.assert_close(gi.mean(-1), gf.mean(-1), atol=2 * lsb, rtol=0)


def test_onnx_runtime_is_bit_identical(quantized, tmp_path):
    _, _, int_model = quantized
    path = str(tmp_path / "group_norm.onnx")
    export_int_model_to_onnx(int_model, {"x": images(0)}, path, input_mode="positional")
    for seed in range(20, 26):
        x = images(seed) * (1 + seed % 3)  # some inputs saturate the conv's output grid
        ort = next(iter(run_onnx(path, {"x": x}).values()))
        with torch.no_grad():
            ref = int_model(x).numpy()
        assert np.array_equal(ort, ref), float(np.abs(ort - ref).max())


def test_too_many_elements_per_group_is_refused(quantized):
    _, _, int_model = quantized
    x = torch.randn(1, 6, 200, 200)  # 4 channels x 40 000 pixels per group
    with torch.no_grad(), pytest.raises(OverflowError, match="elements per group"):
        int_model(x)
