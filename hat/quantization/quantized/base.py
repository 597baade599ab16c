"""Shared helpers of the integer (fixed-point) modules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hat.quantization import tracing
from hat.quantization.qdtypes import QDType, get_qdtype
from hat.quantization.qtensor import QTensor, make_qtensor

__all__ = [
    "DATA_MOVEMENT",
    "DEPLOY_KINDS",
    "FLOAT_ISLAND",
    "INTEGER",
    "Deployment",
    "IntModule",
    "bilinear_macs",
    "eight_bit",
    "is_quantized",
    "expect_int_qtensor",
    "np_dtype",
    "qdtype_from_qmin",
]

# How an integer module runs in the deployed ONNX graph (ONNX Runtime, ENABLE_EXTENDED/ALL)
INTEGER = "integer"  # integer kernels / int32 ONNX ops (float32 requantization at the end)
DATA_MOVEMENT = "data movement"  # copies or reorders integer values, no arithmetic
FLOAT_ISLAND = "float island"  # float32 compute between DequantizeLinear and QuantizeLinear
DEPLOY_KINDS = (INTEGER, DATA_MOVEMENT, FLOAT_ISLAND)


@dataclass(frozen=True)
class Deployment:
    """How one module runs in the deployed graph: ``kind`` (one of :data:`DEPLOY_KINDS`) and
    ``note`` (the ONNX ops it becomes; for a float island the reason it is one)."""

    kind: str
    note: str

    def __post_init__(self) -> None:
        if self.kind not in DEPLOY_KINDS:
            raise ValueError(f"deploy kind must be one of {DEPLOY_KINDS}, got {self.kind!r}")


FLOAT_INPUT_NOTE = (
    "float inputs (after a DeQuantStub): float post-processing of a model output, runs as "
    "float32 ONNX ops"
)


def is_quantized(x: Any) -> bool:
    """Whether ``x`` is an integer QTensor."""
    return isinstance(x, QTensor) and not x.dtype.is_floating_point


def bilinear_macs(output: Any) -> int:
    """Bilinear sampling: 4 multiply-accumulates per output element."""
    return 4 * int(output.numel()) if isinstance(output, torch.Tensor) else 0


def np_dtype(qd: QDType) -> np.dtype:
    return np.dtype(str(qd.torch_dtype).replace("torch.", ""))


def qdtype_from_qmin(qmin: int) -> QDType:
    for name in ("uint8", "int8", "int16"):
        if get_qdtype(name).qmin == qmin:
            return get_qdtype(name)
    raise ValueError(f"no quantized dtype with qmin={qmin}")


def expect_int_qtensor(x: object, module: nn.Module) -> QTensor:
    if isinstance(x, QTensor) and not x.dtype.is_floating_point:
        return x
    raise TypeError(
        f"{type(module).__name__} (integer model) expects an integer QTensor, got "
        f"{type(x).__name__}{'' if not isinstance(x, torch.Tensor) else ' ' + str(x.dtype)}"
    )


class IntModule(nn.Module):
    """Base of integer modules: output qparams buffers and the export hook."""

    _export_scope: str = ""
    #: how the module runs in the deployed graph (see :meth:`deployment`); every integer
    #: module class declares it
    deploy_kind: str | None = None
    deploy_note: str = ""

    def deployment(self, inputs: Sequence[Any], output: Any) -> Deployment:
        """How this call (``inputs`` -> ``output``) runs in the deployed ONNX graph.

        Default: the class's ``deploy_kind`` / ``deploy_note``; a call on float inputs only
        (after a DeQuantStub) is float post-processing. Modules whose export depends on the
        tensors' dtypes override this."""
        if not any(is_quantized(x) for x in _tensors(inputs)):
            return Deployment(FLOAT_ISLAND, FLOAT_INPUT_NOTE)
        if self.deploy_kind is None:
            raise NotImplementedError(
                f"{type(self).__name__} does not declare how it deploys (deploy_kind)"
            )
        return Deployment(self.deploy_kind, self.deploy_note)

    def macs(self, inputs: Sequence[Any], output: Any) -> int:
        """Multiply-accumulates of one call (0: element-wise ops and data movement, the
        convention of :func:`hat.utils.op_count.count_ops`)."""
        return 0

    def _init_output(self, scale: torch.Tensor, zero_point: torch.Tensor, qdtype: QDType) -> None:
        self.register_buffer("out_scale", scale.detach().clone().float().reshape(()))
        self.register_buffer("out_zero_point", zero_point.detach().clone().int().reshape(()))
        self.out_qdtype = qdtype

    @property
    def out_zp(self) -> int:
        return int(self.out_zero_point)

    def _wrap(self, q: torch.Tensor) -> QTensor:
        return make_qtensor(q, self.out_scale, self.out_zero_point, self.out_qdtype)

    def _emit(self, fn: Callable[[tracing.GraphRecorder], None]) -> None:
        """Run ``fn(recorder)`` when an ONNX export trace is active."""
        rec = tracing.current()
        if rec is None:
            return
        with rec.name_scope(self._export_scope or type(self).__name__):
            fn(rec)

    @staticmethod
    def _name(t: torch.Tensor) -> str:
        name = getattr(t, "trace_name", None)
        if name is None:
            raise RuntimeError(
                "export: a module input is not traced (it was produced by an op the exporter "
                "does not know; keep model glue to layout ops on quantized tensors)"
            )
        return name

    def _dq(self, rec: tracing.GraphRecorder, x: QTensor, hint: str) -> str:
        return rec.dequantize(
            self._name(x), float(x.q_scale), int(x.q_zero_point), np_dtype(x.q_dtype), hint
        )

    def _q_out(self, rec: tracing.GraphRecorder, y: str, out: QTensor) -> None:
        out.trace_name = rec.quantize(
            y, float(self.out_scale), self.out_zp, np_dtype(self.out_qdtype), "out"
        )

    def extra_repr(self) -> str:
        if hasattr(self, "out_scale"):
            return (
                f"out_scale={float(self.out_scale):.6g}, out_zero_point={self.out_zp}, "
                f"out_dtype={self.out_qdtype.name}"
            )
        return ""


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    return []


def eight_bit(*xs: Any) -> bool:
    """Whether every tensor is an 8-bit QTensor (ORT's QLinear* kernels take 8-bit only)."""
    return all(is_quantized(x) and x.q_dtype.name in ("uint8", "int8") for x in _tensors(xs))
