"""Integer convolution: exact int32 accumulation, int32 bias, ORT-equal requantization."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization import tracing
from hat.quantization.ort_runner import EXACT_INT_CONV_TAG
from hat.quantization.qtensor import QTensor, make_traced, plain
from hat.quantization.quantized.base import (
    FLOAT_ISLAND,
    INTEGER,
    Deployment,
    IntModule,
    eight_bit,
    expect_int_qtensor,
    is_quantized,
    np_dtype,
)
from hat.quantization.quantized.intops import conv_split_plan, exact_conv2d, requantize

__all__ = ["IntConv2d"]

INT32_MAX_F32 = 2147483520.0  # the largest float32 below 2^31


class IntConv2d(IntModule):
    """``y_q = saturate(rne(float32(conv(x_q - x_zp, w_q) + b_q) * M[c]) + y_zp)``.

    Buffers: ``weight`` (int8, per-output-channel scale ``weight_scale``), ``bias`` (int32,
    scale ``bias_scale = float32(input_scale * weight_scale)``), ``multiplier`` ``M =
    float32(bias_scale / out_scale)``. With ``high_precision`` the output is the float tensor
    ``float32(acc + b_q) * bias_scale`` instead (no output quantization). A fused ReLU raises the
    saturation floor to ``y_zp``.
    """

    def __init__(
        self,
        weight_q: torch.Tensor,
        bias_q: torch.Tensor | None,
        weight_scale: torch.Tensor,
        input_scale: torch.Tensor,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        groups: int,
        relu: bool,
        out_scale: torch.Tensor | None,
        out_zero_point: torch.Tensor | None,
        out_qdtype,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight_q.to(torch.int8))
        self.register_buffer("bias", None if bias_q is None else bias_q.to(torch.int32))
        self.register_buffer("weight_scale", weight_scale.float().clone())
        self.register_buffer("input_scale", input_scale.float().reshape(()).clone())
        bias_scale = self.input_scale * self.weight_scale
        self.register_buffer("bias_scale", bias_scale)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.relu = relu
        self.high_precision = out_scale is None
        if not self.high_precision:
            self._init_output(out_scale, out_zero_point, out_qdtype)
            self.register_buffer("multiplier", bias_scale / self.out_scale)
        self.register_buffer("weight_f32", self.weight.float(), persistent=False)
        self.register_buffer(
            "bias_f32", None if self.bias is None else self.bias.float(), persistent=False
        )
        self.bias_max = 0 if self.bias is None else int(self.bias.to(torch.int64).abs().max())
        self.l1 = int(self.weight.to(torch.int64).abs().flatten(1).sum(1).max())

    # ------------------------------------------------------------------------------------
    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntConv2d:
        """From a QAT convolution (:mod:`hat.quantization.qat.conv`): BN-folded weights."""
        if not callable(getattr(qat, "folded_weight_bias", None)):
            raise TypeError(f"{cls.__name__}.from_qat: {type(qat).__name__} is not a QAT conv")
        if float(qat.input_scale) == 0.0:
            raise RuntimeError(
                f"{type(qat).__name__}: input scale unknown; run calibration or at least one "
                "forward pass of the prepared model before convert()"
            )
        with torch.no_grad():
            w, b = qat.folded_weight_bias()
            wfq = qat.weight_fake_quant
            if not wfq.has_qparams:
                wfq.observe(w)
            w_fq = wfq.fake_quant(w)
            s_w = wfq.scale.float()
            w_q = torch.clamp(torch.round(w_fq / s_w.reshape(-1, 1, 1, 1)), -128, 127)
            s_in = qat.input_scale.float()
            b_q = None
            if b is not None:
                # bounds exactly representable in float32 (2^31 - 1 rounds up to 2^31 and
                # would wrap around to -2^31 in the int32 cast); the QAT bias uses the same
                b_q = torch.clamp(torch.round(b.float() / (s_in * s_w)), -(2.0**31), INT32_MAX_F32)
            conv = qat._conv_module()
            fq = qat.activation_post_process
            return cls(
                w_q,
                b_q,
                s_w,
                s_in,
                tuple(conv.stride),
                tuple(conv.padding),
                tuple(conv.dilation),
                conv.groups,
                qat.relu,
                None if fq is None else fq.scale,
                None if fq is None else fq.zero_point,
                None if fq is None else fq.qdtype,
            )

    # ------------------------------------------------------------------------------------
    def accumulate(self, x: QTensor) -> torch.Tensor:
        """The accumulator ``conv(x_q - x_zp, w_q) + b_q`` (int32, or float32 holding the
        identical integers when they are all below 2^24)."""
        if float(x.q_scale) != float(self.input_scale):
            raise RuntimeError(
                f"{type(self).__name__}: input scale {float(x.q_scale):.6g} differs from the one "
                f"the bias was quantized with ({float(self.input_scale):.6g})"
            )
        zp = int(x.q_zero_point)
        qd = x.q_dtype
        amax = max(zp - qd.qmin, qd.qmax - zp)
        plan = conv_split_plan(amax, self.l1)
        xc = plain(x).to(torch.float32).sub_(zp)
        if plan[0] == "f32" and amax * self.l1 + self.bias_max < 2**24 and not xc.is_cuda:
            # every partial sum, bias included, is an integer below 2^24: the float32 result
            # *is* the int32 accumulator (kept as float32 to save conversions)
            return F.conv2d(
                xc, self.weight_f32, self.bias_f32, self.stride, self.padding, self.dilation,
                self.groups,
            )  # fmt: skip
        acc = exact_conv2d(
            xc, self.weight_f32, self.stride, self.padding, self.dilation, self.groups, plan
        )
        if self.bias is not None:
            acc = acc + self.bias.reshape(1, -1, 1, 1)
        return acc

    def forward(self, x: QTensor) -> QTensor | torch.Tensor:
        x = expect_int_qtensor(x, self)
        acc = self.accumulate(x)
        if self.high_precision:
            y = acc.to(torch.float32) * self.bias_scale.reshape(1, -1, 1, 1)
            if self.relu:
                y = torch.relu(y)
            if tracing.is_tracing():
                y = make_traced(y)
                self._emit(lambda rec: self._export_hp(rec, x, y))
            return y
        q = requantize(
            acc,
            self.multiplier.reshape(1, -1, 1, 1),
            self.out_zp,
            self.out_qdtype,
            lower=self.out_zp if self.relu else None,
        )
        out = self._wrap(q)
        self._emit(lambda rec: self._export_qdq(rec, x, out))
        return out

    # ------------------------------------------------------------------------------------
    def deployment(self, inputs, output) -> Deployment:
        x = inputs[0]
        if not is_quantized(x):
            return super().deployment(inputs, output)
        if self.high_precision:
            if eight_bit(x) and self._float32_conv_is_exact(x):
                return Deployment(
                    INTEGER,
                    "int32 accumulator computed exactly by a float32 Conv on the centred codes "
                    "(every partial sum an integer below 2^24) + int32 bias, float32 output scale",
                )
            if eight_bit(x):
                return Deployment(
                    INTEGER, "ConvInteger (int32 accumulator) + int32 bias, float32 output scale"
                )
            return Deployment(
                FLOAT_ISLAND, f"{x.q_dtype.name} input: ORT has no integer conv for it; DQ -> Conv"
            )
        if eight_bit(x, output):
            return Deployment(INTEGER, "QLinearConv")
        return Deployment(
            FLOAT_ISLAND,
            f"{x.q_dtype.name} -> {self.out_qdtype.name}: ORT's QLinearConv takes 8-bit "
            "tensors only; DQ -> Conv -> Q in float32",
        )

    def _float32_conv_is_exact(self, x: QTensor) -> bool:
        """Whether a float32 conv of the centred 8-bit codes ``x - zp`` with the integer
        weights is exact: ``max|x - zp| * max_c sum|w[c]| < 2^24``, so every partial sum, in
        any order, is an integer float32 holds."""
        zp, qd = int(x.q_zero_point), x.q_dtype
        return max(zp - qd.qmin, qd.qmax - zp) * self.l1 < 2**24

    def macs(self, inputs, output) -> int:
        """``output elements * (C_in / groups) * kh * kw``."""
        _, cin_g, kh, kw = self.weight.shape
        return int(output.numel()) * int(cin_g) * int(kh) * int(kw)

    def _conv_attrs(self) -> dict:
        kh, kw = self.weight.shape[-2:]
        ph, pw = self.padding
        return dict(
            kernel_shape=[int(kh), int(kw)],
            strides=list(self.stride),
            pads=[ph, pw, ph, pw],
            dilations=list(self.dilation),
            group=self.groups,
        )

    def _weight_inputs(self, rec) -> list[str]:
        c = self.weight.shape[0]
        w = rec.const(self.weight.numpy(), "weight")
        names = [
            rec.dequantize(w, self.weight_scale.numpy(), np.zeros(c, np.int8), np.int8, "w", 0)
        ]
        if self.bias is not None:
            b = rec.const(self.bias.numpy(), "bias")
            names.append(
                rec.dequantize(b, self.bias_scale.numpy(), np.zeros(c, np.int32), np.int32, "b", 0)
            )
        return names

    def _export_qdq(self, rec, x: QTensor, out: QTensor) -> None:
        xd = self._dq(rec, x, "x")
        y = rec.node1("Conv", [xd] + self._weight_inputs(rec), "conv", **self._conv_attrs())
        if self.relu:
            y = rec.node1("Relu", [y], "relu")
        self._q_out(rec, y, out)

    def _export_hp(self, rec, x: QTensor, y: torch.Tensor) -> None:
        c = self.weight.shape[0]
        if x.q_dtype.name in ("uint8", "int8"):
            # exact int32 accumulator + int32 bias, then the float scale
            xz = rec.const(np.array(int(x.q_zero_point), np_dtype(x.q_dtype)), "x_zp")
            if self._float32_conv_is_exact(x):
                # every partial sum of (x - zp) * w is an integer below 2^24: ORT's float32
                # Conv returns the accumulator bit for bit, several times faster than its
                # ConvInteger (an im2col GEMM with few output channels); the Cast to int32
                # keeps ORT from folding the output scale into the weights
                one = rec.const(np.float32(1.0), "unit_scale", np.float32)
                xc = rec.node1("DequantizeLinear", [self._name(x), one, xz], "x_centred")
                w = rec.const(self.weight.numpy().astype(np.float32), "weight_int_values")
                acc_f = rec.node1(  # tagged node and output (ORT renames by either)
                    "Conv", [xc, w], EXACT_INT_CONV_TAG, node_name=EXACT_INT_CONV_TAG,
                    **self._conv_attrs(),
                )  # fmt: skip
                acc = rec.node1("Cast", [acc_f], "acc", to=6)  # int32
            else:
                w = rec.const(self.weight.numpy(), "weight")
                wz = rec.const(np.array(0, np.int8), "w_zp")
                acc = rec.node1(
                    "ConvInteger", [self._name(x), w, xz, wz], "acc", **self._conv_attrs()
                )
            if self.bias is not None:
                b = rec.const(self.bias.numpy().reshape(1, c, 1, 1), "bias")
                acc = rec.node1("Add", [acc, b], "acc_b")
            f = rec.node1("Cast", [acc], "acc_f", to=1)
            s = rec.const(self.bias_scale.numpy().reshape(1, c, 1, 1), "acc_scale")
            out = rec.node1("Mul", [f, s], "out_f")
        else:  # int16 input: ORT has no integer kernel, float conv between DQ nodes
            xd = self._dq(rec, x, "x")
            out = rec.node1("Conv", [xd] + self._weight_inputs(rec), "conv", **self._conv_attrs())
        if self.relu:
            out = rec.node1("Relu", [out], "relu")
        y.trace_name = out

    def extra_repr(self) -> str:
        o, i, kh, kw = self.weight.shape
        s = f"{i * self.groups}, {o}, kernel=({kh}, {kw}), stride={self.stride}, "
        s += f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
        s += f"relu={self.relu}, "
        return s + ("high_precision=True" if self.high_precision else super().extra_repr())
