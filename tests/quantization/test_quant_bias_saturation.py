"""A bias far outside the int32 range of its scale saturates identically in QAT and the int model
(a zero-weight channel after BN folding gets a tiny weight scale)."""

import torch
from quant_helpers import quantize_model

import hat.nn as hnn


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = hnn.QuantStub()
        self.conv = hnn.ConvModule2d(3, 4, 1, bias=True)
        self.dequant = hnn.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.conv(self.quant(x)))


def test_saturated_bias_matches():
    torch.manual_seed(0)
    net = _Net()
    with torch.no_grad():
        net.conv.conv.weight[1].zero_()
        net.conv.conv.weight[1, 0, 0, 0] = 1e-9  # weight scale ~1e-11: bias 300 overflows int32
        net.conv.conv.bias[1] = 300.0
    xs = [(torch.randn(2, 3, 8, 8),) for _ in range(2)]
    qat, im = quantize_model(net, xs)
    with torch.no_grad():
        y_qat = qat(*xs[0])
    y_int = im(*xs[0])
    assert torch.allclose(y_int[:, 1], y_qat[:, 1]), (y_int[0, 1, 0, 0], y_qat[0, 1, 0, 0])
    assert float(y_int[:, 1].min()) > 0  # saturates high, no wrap-around to -2^31
