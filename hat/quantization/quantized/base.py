"""Shared helpers of the integer (fixed-point) modules."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hat.quantization import tracing
from hat.quantization.qdtypes import QDType, get_qdtype
from hat.quantization.qtensor import QTensor, make_qtensor

__all__ = ["IntModule", "np_dtype", "expect_int_qtensor", "qdtype_from_qmin"]


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
