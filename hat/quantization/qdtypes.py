"""Quantized data types: integer range, torch storage dtype and ONNX element type."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

__all__ = ["QDType", "get_qdtype", "QDTYPES", "reduced_range"]


@dataclass(frozen=True)
class QDType:
    """An integer quantization type.

    ``qmin``/``qmax`` is the representable range, ``torch_dtype`` the storage dtype of int-model
    tensors and ``onnx_type`` the ``onnx.TensorProto`` element type used at export.
    """

    name: str
    qmin: int
    qmax: int
    torch_dtype: torch.dtype
    onnx_type: int

    @property
    def signed(self) -> bool:
        return self.qmin < 0

    @property
    def bits(self) -> int:
        return (self.qmax - self.qmin + 1).bit_length() - 1


# onnx.TensorProto codes, written out so that this module does not import onnx.
_ONNX_UINT8, _ONNX_INT8, _ONNX_INT16, _ONNX_INT32 = 2, 3, 5, 6

QDTYPES: dict[str, QDType] = {
    "uint8": QDType("uint8", 0, 255, torch.uint8, _ONNX_UINT8),
    "int8": QDType("int8", -128, 127, torch.int8, _ONNX_INT8),
    "int16": QDType("int16", -32768, 32767, torch.int16, _ONNX_INT16),
    "int32": QDType("int32", -(2**31), 2**31 - 1, torch.int32, _ONNX_INT32),
}
_ALIASES = {"quint8": "uint8", "qint8": "int8", "qint16": "int16", "qint32": "int32"}


def get_qdtype(name: str | QDType) -> QDType:
    """Look up a :class:`QDType` by name (``uint8``, ``int8``, ``int16``, ``int32``; HAT's
    ``qint8``/``qint16``/``quint8`` are accepted as aliases)."""
    if isinstance(name, QDType):
        return name
    key = _ALIASES.get(name, name)
    if key not in QDTYPES:
        raise ValueError(f"unknown quantized dtype {name!r}; choose from {sorted(QDTYPES)}")
    return QDTYPES[key]


def reduced_range(qdtype: str | QDType) -> QDType:
    """``qdtype`` with half its range and the same storage (one bit less): ``int8`` ->
    ``[-64, 63]``, ``uint8`` -> ``[0, 127]``. ONNX Runtime's ``reduce_range``: 7-bit weights
    keep the u8 x s8 pair sums of ``vpmaddubsw`` (AVX2/AVX512 without VNNI) inside int16
    (``2 * 255 * 64 = 32640 <= 32767``); see :mod:`hat.quantization.cpu_features`."""
    qd = get_qdtype(qdtype)
    full = QDTYPES[qd.name]
    if (qd.qmin, qd.qmax) != (full.qmin, full.qmax):
        raise ValueError(f"{qd.name} range [{qd.qmin}, {qd.qmax}] is already reduced")
    return dataclasses.replace(qd, qmin=qd.qmin // 2, qmax=qd.qmax // 2)
