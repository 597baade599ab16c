"""Quantized activation x activation matrix product (attention scores and values)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_helpers import quantize_model
from torch import nn

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import optimized_op_counts, run_onnx
from hat.quantization.quantized.matmul import IntMatMul


class Attention(nn.Module):
    """``softmax(q k^T / sqrt(d)) v`` on quantized ``(B, heads, N, d)`` inputs."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.stubs = nn.ModuleList(hnn.QuantStub() for _ in range(3))
        self.scores = hnn.MatMul()
        self.scale = hnn.MulScalar(d**-0.5)
        self.softmax = nn.Softmax(dim=-1)
        self.values = hnn.MatMul()
        self.dequant = hnn.DeQuantStub()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = (s(t) for s, t in zip(self.stubs, (q, k, v), strict=True))
        attn = self.softmax(self.scale(self.scores(q, k.transpose(-1, -2))))
        return self.dequant(self.values(attn, v))


def qkv(seed: int, n: int = 20, m: int = 26, d: int = 16) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 3, size, d, generator=g) for size in (n, m, m))


@pytest.fixture(scope="module")
def quantized():
    torch.manual_seed(0)
    model = Attention().eval()
    reference = Attention().eval()
    qat, int_model = quantize_model(model, [qkv(s) for s in range(4)])
    return reference, qat, int_model


def test_int_model_close_to_fake_quant_and_float(quantized):
    reference, qat, int_model = quantized
    assert isinstance(int_model.scores, IntMatMul) and isinstance(int_model.values, IntMatMul)
    x = qkv(9)
    with torch.no_grad():
        f, q, i = reference(*x), qat(*x), int_model(*x)
    assert i.shape == f.shape == (2, 3, 20, 16)
    lsb = float(qat.values.activation_post_process.scale)
    assert float((i - q).abs().max()) <= 2 * lsb + 1e-6
    assert float((i - f).abs().mean()) < 2 * lsb


def test_integer_accumulator_is_exact():
    from hat.quantization.qdtypes import get_qdtype
    from hat.quantization.qtensor import make_qtensor, plain

    u8 = get_qdtype("uint8")
    g = torch.Generator().manual_seed(3)
    a = torch.randint(0, 256, (4, 7, 300), generator=g, dtype=torch.int32).to(torch.uint8)
    b = torch.randint(0, 256, (4, 300, 5), generator=g, dtype=torch.int32).to(torch.uint8)
    mm = IntMatMul(torch.tensor(2.0**-6), torch.tensor(3), u8)
    x = make_qtensor(a, torch.tensor(0.5), torch.tensor(11), u8)
    y = make_qtensor(b, torch.tensor(0.25), torch.tensor(200), u8)
    out = mm(x, y)
    acc = (a.long() - 11) @ (b.long() - 200)  # exact integers
    m = np.float32(np.float32(0.5 * 0.25) / np.float32(2.0**-6))
    ref = np.clip(np.rint(acc.numpy().astype(np.float32) * m) + 3, 0, 255)
    assert np.array_equal(plain(out).numpy(), ref.astype(np.uint8))


def test_onnx_runtime_is_bit_identical(quantized, tmp_path):
    _, _, int_model = quantized
    path = str(tmp_path / "attention.onnx")
    names = ("q", "k", "v")
    export_int_model_to_onnx(int_model, dict(zip(names, qkv(0), strict=True)), path)
    counts = optimized_op_counts(path)
    assert counts.get("QLinearMatMul") == 2, counts
    assert counts.get("QLinearSoftmax") == 1, counts
    for seed in (30, 31, 32):
        x = qkv(seed)
        ort = next(iter(run_onnx(path, dict(zip(names, x, strict=True))).values()))
        with torch.no_grad():
            ref = int_model(*x).numpy()
        assert np.array_equal(ort, ref), float(np.abs(ort - ref).max())
