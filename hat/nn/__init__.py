"""Float building blocks whose quantized counterparts live in :mod:`hat.quantization`.

Models are written with these modules (instead of bare ``+``, ``torch.cat``, ``F.interpolate``)
so that every op that needs its own output scale is a module the quantizer can swap.
"""

from hat.nn.add_relu import AddReLU
from hat.nn.conv_module import ConvModule2d
from hat.nn.correlation import Correlation
from hat.nn.cost_volume import ConcatVolume, CostVolume
from hat.nn.functional_modules import (
    Add,
    Concat,
    Interpolate,
    MaskedSoftmax,
    MatMul,
    Mul,
    MulScalar,
)
from hat.nn.soft_argmin import SoftArgmin
from hat.nn.stubs import DeQuantStub, QuantStub
from hat.nn.warp import Warp

__all__ = [
    "Add",
    "AddReLU",
    "Concat",
    "ConcatVolume",
    "ConvModule2d",
    "Correlation",
    "CostVolume",
    "DeQuantStub",
    "Interpolate",
    "MaskedSoftmax",
    "MatMul",
    "Mul",
    "MulScalar",
    "QuantStub",
    "SoftArgmin",
    "Warp",
]
