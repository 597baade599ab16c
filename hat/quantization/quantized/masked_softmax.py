"""Integer masked softmax along the last dimension, bit-exact on ONNX Runtime.

With ``d = q - max_kept(q)`` (an integer in ``[-(qmax - qmin), 0]`` on the kept entries),
``e = T[d]`` from an integer table ``T[d] = round(exp(d * s_in) * 2^15)`` (``T[0] = 32768``),
the kept sum ``S = sum keep * e`` is an exact int32 (rows up to 65 535 entries), and

    y_q = Q(float32(keep * e) / float32(S))   (0 where nothing is kept)

with one correctly rounded float32 division and ORT's QuantizeLinear: no reduction order and no
fused kernel to agree on, so ORT's element-wise graph (Where, ReduceMax, Sub, Gather, Mul,
ReduceSum on integers, then Cast, Div, QuantizeLinear) gives the integer model's codes exactly.
The output grid is ``1 / 2^bits`` with zero point 0 (masked entries are exactly 0); the table
resolution (2^-15 of the largest term) is far below one output step (2^-8).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import (
    FLOAT_ISLAND,
    Deployment,
    IntModule,
    expect_int_qtensor,
    is_quantized,
    qdtype_from_qmin,
)
from hat.quantization.quantized.intops import quantize

__all__ = ["IntMaskedSoftmax"]

TABLE_ONE = 2**15


class IntMaskedSoftmax(IntModule):
    """Masked softmax of integer codes with an integer exp table (see module doc)."""

    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        if float(qat.input_scale[0]) == 0.0:
            raise RuntimeError("IntMaskedSoftmax: input scale unknown; calibrate first")
        fq = qat.activation_post_process
        self._init_output(fq.scale, fq.zero_point, fq.qdtype)
        self.in_qdtype = qdtype_from_qmin(int(qat.input_qmin[0]))
        s = float(np.float32(qat.input_scale[0]))
        span = self.in_qdtype.qmax - self.in_qdtype.qmin
        d = np.arange(-span, 1, dtype=np.float64)
        table = np.rint(np.exp(d * s) * TABLE_ONE).astype(np.int32)
        self.register_buffer("exp_table", torch.from_numpy(table))  # index d + span

    def _check(self, x: QTensor, keep: torch.Tensor) -> torch.Tensor:
        if x.q_dtype != self.in_qdtype:
            raise RuntimeError("IntMaskedSoftmax: input dtype differs from calibration")
        if x.shape[-1] >= 65536:
            raise ValueError("IntMaskedSoftmax: rows of 65536 entries or more overflow int32")
        return torch.broadcast_to(keep.to(torch.bool), x.shape)

    def forward(self, x: QTensor, keep: torch.Tensor) -> QTensor:
        x = expect_int_qtensor(x, self)
        keep_name = getattr(keep, "trace_name", None)  # a graph input when exporting
        keep = plain(keep)
        keep_b = self._check(x, keep)
        q = plain(x).to(torch.int32)
        qmin = self.in_qdtype.qmin
        top = torch.where(keep_b, q, torch.full_like(q, qmin)).amax(-1, keepdim=True)
        span = self.exp_table.numel() - 1
        idx = (q - top).clamp(-span, 0) + span  # masked entries may exceed the kept max
        e = self.exp_table[idx.long()] * keep_b.to(torch.int32)
        total = e.sum(-1, keepdim=True, dtype=torch.int32)
        y = e.float() / total.clamp_min(1).float()
        out = self._wrap(quantize(y, self.out_scale, self.out_zp, self.out_qdtype))

        def export(rec) -> None:
            codes = self._name(x)
            k = keep_name
            if k is None:
                k = rec.const(keep.to(torch.bool).numpy(), "keep")
            elif keep.dtype != torch.bool:
                k = rec.node1("Cast", [k], "keep_bool", to=9)
            i32 = rec.node1("Cast", [codes], "codes", to=6)
            low = rec.const(np.array(qmin, np.int32), "qmin")
            kept = rec.node1("Where", [k, i32, low], "kept_codes")
            axes = rec.const(np.array([-1], np.int64), "axes")
            mx = rec.node1("ReduceMax", [kept, axes], "max", keepdims=1)
            diff = rec.node1("Sub", [i32, mx], "d")
            diff = rec.node1("Max", [diff, rec.const(np.array(-span, np.int32), "lo")], "d_lo")
            diff = rec.node1("Min", [diff, rec.const(np.array(0, np.int32), "hi")], "d_hi")
            index = rec.node1("Add", [diff, rec.const(np.array(span, np.int32), "span")], "idx")
            table = rec.const(self.exp_table.numpy(), "exp_table")
            e_ = rec.node1("Gather", [table, index], "exp", axis=0)
            mask = rec.node1("Cast", [k], "keep_i", to=6)
            e_ = rec.node1("Mul", [e_, mask], "exp_kept")
            tot = rec.node1("ReduceSum", [e_, axes], "sum", keepdims=1)
            tot = rec.node1("Max", [tot, rec.const(np.array(1, np.int32), "one")], "sum_1")
            y_ = rec.node1(
                "Div",
                [rec.node1("Cast", [e_], "exp_f", to=1), rec.node1("Cast", [tot], "sum_f", to=1)],
                "ratio",
            )
            self._q_out(rec, y_, out)

        self._emit(export)
        return out

    def deployment(self, inputs, output) -> Deployment:
        if not is_quantized(inputs[0]):
            return super().deployment(inputs, output)
        return Deployment(
            FLOAT_ISLAND,
            "masked softmax: integer exp table and int32 sums, one float32 division per "
            "element (no masked QLinearSoftmax in ORT); bit-exact",
        )
