"""Quantized nn.Linear: fake quant, integer model and ONNX Runtime agree (a 1x1 conv inside)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from quant_helpers import int_values, quantize_model
from torch import nn

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import optimized_op_counts, run_onnx
from hat.quantization.qat.linear import QATLinear
from hat.quantization.quantized.linear import IntLinear


class TokenMLP(nn.Module):
    """Tokens ``(B, N, C)``: linear -> ReLU -> linear, the feed-forward block of a transformer."""

    def __init__(self, c: int = 24, hidden: int = 40) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.fc1 = nn.Linear(c, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, c)
        self.dequant = hnn.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.fc2(self.relu(self.fc1(self.quant(x)))))


def tokens(seed: int) -> torch.Tensor:
    return torch.randn(2, 30, 24, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def quantized():
    torch.manual_seed(0)
    float_model = TokenMLP().eval()
    reference = TokenMLP().eval()
    reference.load_state_dict(float_model.state_dict())
    qat, int_model = quantize_model(float_model, [(tokens(s),) for s in range(4)])
    return reference, qat, int_model


def test_modules_swapped_and_float_keys_kept(quantized):
    reference, qat, int_model = quantized
    assert isinstance(qat.fc1, QATLinear) and isinstance(int_model.fc1, IntLinear)
    assert qat.fc1.weight.shape == (40, 24)  # nn.Linear's parameter, unchanged
    for key, value in reference.state_dict().items():
        assert torch.equal(qat.state_dict()[key], value), key


def test_int_model_matches_fake_quant_and_float(quantized):
    reference, qat, int_model = quantized
    x = tokens(10)
    with torch.no_grad():
        f, q, i = reference(x), qat(x), int_model(x)
    assert i.shape == f.shape == (2, 30, 24)
    lsb = float(qat.fc2.activation_post_process.scale)
    # the integer model is the fake-quant model up to rounding of the int32 bias/requant
    assert float((i - q).abs().max()) <= lsb + 1e-6
    assert float((i - q).abs().gt(1e-6).float().mean()) < 0.02
    # and close to float (8-bit activations and weights, two layers): the error is a few LSB
    err = (i - f).abs() / lsb
    assert float(err.mean()) < 1.0 and float(err.max()) < 16, (float(err.mean()), float(err.max()))


def test_int_codes_of_the_hidden_layer_equal_fake_quant(quantized):
    _, qat, int_model = quantized
    x = tokens(11)
    with torch.no_grad():
        xq_f = qat.quant(x)
        xq_i = int_model.quant(x)
        h_f = qat.fc1(xq_f)
        h_i = int_model.fc1(xq_i)
    same = np.mean(int_values(h_f) == int_values(h_i))
    assert same > 0.99 and h_i.shape == (2, 30, 40)


def test_onnx_runtime_is_bit_identical(quantized, tmp_path):
    _, _, int_model = quantized
    path = str(tmp_path / "mlp.onnx")
    export_int_model_to_onnx(int_model, {"x": tokens(0)}, path, input_mode="positional")
    counts = optimized_op_counts(path)
    assert counts.get("QLinearConv") == 2, counts  # both linears on the integer conv kernel
    for seed in (20, 21, 22):
        x = tokens(seed) * (1 + seed % 3)
        ort = next(iter(run_onnx(path, {"x": x}).values()))
        with torch.no_grad():
            ref = int_model(x).numpy()
        assert ort.shape == ref.shape
        assert np.array_equal(ort, ref), float(np.abs(ort - ref).max())


def test_wrong_feature_count_is_named():
    from hat.quantization import get_default_qconfig
    from hat.quantization.qdtypes import get_qdtype
    from hat.quantization.qtensor import make_qtensor

    qat = QATLinear(nn.Linear(4, 2), get_default_qconfig())
    x = make_qtensor(torch.zeros(3, 5), torch.tensor(0.1), torch.tensor(128), get_qdtype("uint8"))
    with pytest.raises(ValueError, match="QATLinear: input has 5 features, expected 4"):
        qat(x)


def test_checker_runs_the_token_mlp_as_an_integer_model():
    from hat.quantization.checker import check_model

    class DictInput(TokenMLP):
        def forward(self, data):
            return super().forward(data["x"])

    report = check_model(DictInput().eval(), {"x": tokens(0)})
    assert report.ok, report.problems
    s = report.summary
    assert s.integer_mac_share == 1.0 and s.total_macs == 2 * 60 * 24 * 40
    assert s.ort_op_classes["integer"] == {"QLinearConv": 2}
    assert not s.ort_op_classes["float_compute"]  # the ReLU is an integer Max on the codes
    assert s.ort_op_classes["other"]["Max"] == 1
