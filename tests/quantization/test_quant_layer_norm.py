"""Quantized LayerNorm: exact integer statistics, float element-wise ops ORT reproduces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_helpers import quantize_model
from torch import nn

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.quantization.quantized.layer_norm import IntLayerNorm


class Norm(nn.Module):
    def __init__(self, c: int = 64) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.norm = nn.LayerNorm(c)
        self.dequant = hnn.DeQuantStub()
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            self.norm.weight.copy_(torch.rand(c, generator=g) + 0.5)
            self.norm.bias.copy_(torch.randn(c, generator=g) * 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.norm(self.quant(x)))


def tokens(seed: int, c: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # per-token offsets and spreads: the statistics differ from token to token
    return torch.randn(2, 50, c, generator=g) * (torch.rand(2, 50, 1, generator=g) * 3 + 0.2) + (
        torch.randn(2, 50, 1, generator=g)
    )


@pytest.fixture(scope="module")
def quantized():
    reference = Norm().eval()
    model = Norm().eval()
    qat, int_model = quantize_model(model, [(tokens(s),) for s in range(4)])
    return reference, qat, int_model


def test_int_model_normalises_like_float(quantized):
    reference, qat, int_model = quantized
    assert isinstance(int_model.norm, IntLayerNorm)
    x = tokens(7)
    with torch.no_grad():
        f, q, i = reference(x), qat(x), int_model(x)
    lsb = float(qat.norm.activation_post_process.scale)
    assert float((i - q).abs().max()) <= lsb + 1e-6  # same statistics, same grid
    # float error: the input grid (step s_in), magnified by gamma / std of the token, plus
    # the output rounding
    assert float((i - f).abs().mean()) < lsb
    s_in = float(qat.norm.input_scale)
    gamma = float(reference.norm.weight.detach().max())
    bound = gamma * s_in / x.std(-1, unbiased=False, keepdim=True) + lsb
    assert bool(((i - f).abs() <= bound).all())


def test_onnx_runtime_is_bit_identical(quantized, tmp_path):
    _, _, int_model = quantized
    path = str(tmp_path / "norm.onnx")
    export_int_model_to_onnx(int_model, {"x": tokens(0)}, path, input_mode="positional")
    for seed in range(20, 26):
        x = tokens(seed) * (1 + seed % 3)  # some tokens saturate the input grid
        ort = next(iter(run_onnx(path, {"x": x}).values()))
        with torch.no_grad():
            ref = int_model(x).numpy()
        assert np.array_equal(ort, ref), float(np.abs(ort - ref).max())


def test_constant_token_does_not_divide_by_zero(quantized):
    _, _, int_model = quantized
    x = torch.zeros(1, 3, 64)
    x[0, 1] = 0.7  # every channel equal: variance 0, output beta
    with torch.no_grad():
        y = int_model(x)
    assert torch.isfinite(y).all()
    lsb = float(int_model.norm.out_scale)
    assert float((y[0, 1] - int_model.norm.beta).abs().max()) <= lsb / 2 + 1e-6


def test_checker_names_the_island():
    from hat.quantization.checker import check_model

    class DictInput(Norm):
        def forward(self, data):
            return super().forward(data["x"])

    report = check_model(DictInput().eval(), {"x": tokens(0)})
    assert "norm" in report.summary.float_islands
    assert "LayerNorm" in report.summary.float_islands["norm"]


def test_only_the_last_dimension():
    from hat.quantization import get_default_qconfig
    from hat.quantization.qat.layer_norm import QATLayerNorm

    with pytest.raises(NotImplementedError, match=r"last dimension only.*\(4, 8\)"):
        QATLayerNorm(nn.LayerNorm((4, 8)), get_default_qconfig())
