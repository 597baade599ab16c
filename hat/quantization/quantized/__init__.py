"""Integer (fixed-point) modules produced by :func:`hat.quantization.convert`."""

from hat.quantization.quantized.conv import IntConv2d
from hat.quantization.quantized.correlation import IntCorrelation
from hat.quantization.quantized.functional import IntAdd, IntConcat, IntMul, IntMulScalar
from hat.quantization.quantized.interpolate import IntInterpolate
from hat.quantization.quantized.island import IntFloatIsland
from hat.quantization.quantized.lut import IntSigmoid, IntSoftmax
from hat.quantization.quantized.stubs import IntDeQuantStub, IntQuantStub
from hat.quantization.quantized.warp import IntWarp

__all__ = [
    "IntAdd",
    "IntConcat",
    "IntConv2d",
    "IntCorrelation",
    "IntDeQuantStub",
    "IntFloatIsland",
    "IntInterpolate",
    "IntMul",
    "IntMulScalar",
    "IntQuantStub",
    "IntSigmoid",
    "IntSoftmax",
    "IntWarp",
]
