"""Fake-quant (calibration / QAT) modules."""

from hat.quantization.qat.activations import QATSigmoid, QATSoftmax
from hat.quantization.qat.conv import QATConv2d, QATConvModule2d, freeze_bn_stats
from hat.quantization.qat.correlation import QATCorrelation, QATFloatIsland
from hat.quantization.qat.functional import QATAdd, QATConcat, QATMul, QATMulScalar, QATReLU
from hat.quantization.qat.interpolate import QATInterpolate
from hat.quantization.qat.stubs import QATDeQuantStub, QATQuantStub

__all__ = [
    "QATAdd",
    "QATConcat",
    "QATConv2d",
    "QATConvModule2d",
    "QATCorrelation",
    "QATDeQuantStub",
    "QATFloatIsland",
    "QATInterpolate",
    "QATMul",
    "QATMulScalar",
    "QATQuantStub",
    "QATReLU",
    "QATSigmoid",
    "QATSoftmax",
    "freeze_bn_stats",
]
