"""Quantized masked softmax (attention over padded keys): exact zeros, ORT bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_helpers import quantize_model
from torch import nn

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.quantization.quantized.masked_softmax import IntMaskedSoftmax


class Scores(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.softmax = hnn.MaskedSoftmax()
        self.dequant = hnn.DeQuantStub()

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.softmax(self.quant(x), keep))


def inputs(seed: int, lk: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 4, 10, lk, generator=g) * 3
    keep = torch.rand(3, 1, 1, lk, generator=g) > 0.3
    keep[2] = False  # a batch element with every key masked
    return x, keep


@pytest.fixture(scope="module")
def quantized():
    return quantize_model(Scores().eval(), [inputs(s) for s in range(3)])


def test_float_module_semantics():
    x, keep = inputs(1)
    y = hnn.MaskedSoftmax()(x, keep)
    assert torch.equal(y[~keep.expand_as(y)], torch.zeros(int((~keep.expand_as(y)).sum())))
    assert torch.allclose(y[:2].sum(-1), torch.ones(2, 4, 10))
    assert torch.equal(y[2], torch.zeros_like(y[2]))


def test_int_model_close_to_float_with_exact_zeros(quantized):
    qat, int_model = quantized
    assert isinstance(int_model.softmax, IntMaskedSoftmax)
    x, keep = inputs(5)
    with torch.no_grad():
        f, q, i = hnn.MaskedSoftmax()(x, keep), qat(x, keep), int_model(x, keep)
    step = 1 / 256
    assert float((i - q).abs().max()) <= step + 1e-7
    # each score moves by at most s_in / 2 on its 8-bit grid, which moves a softmax output by at
    # most s_in; then the output rounds to the 1/256 grid
    s_in = float(qat.softmax.input_scale[0])
    assert float((i - f).abs().max()) <= s_in + step
    assert float((i - f).abs().mean()) <= step
    masked = ~keep.expand_as(i)
    assert torch.equal(i[masked], torch.zeros(int(masked.sum())))
    assert torch.equal(i[2], torch.zeros_like(i[2]))


def test_onnx_runtime_is_bit_identical(quantized, tmp_path):
    _, int_model = quantized
    path = str(tmp_path / "masked_softmax.onnx")
    x0, k0 = inputs(0)
    export_int_model_to_onnx(int_model, {"x": x0, "keep": k0}, path, input_mode="positional")
    for seed in range(10, 16):
        x, keep = inputs(seed)
        x = x * (1 + seed % 3)  # saturating inputs too
        ort = next(iter(run_onnx(path, {"x": x, "keep": keep}).values()))
        with torch.no_grad():
            ref = int_model(x, keep).numpy()
        assert np.array_equal(ort, ref), float(np.abs(ort - ref).max())
