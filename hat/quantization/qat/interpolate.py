"""QAT Interpolate: nearest and bilinear by integer factors keep the input qparams, other
bilinear resizes have their own output scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.fake_quantize import FakeQuantize
from hat.quantization.qat.base import QATModule, all_float, expect_qtensor
from hat.quantization.qconfig import QConfig, QuantSpec
from hat.quantization.qtensor import QTensor, make_qtensor, plain
from hat.quantization.quantized.int_upsample import integer_upsample_factors, upsample_integer

__all__ = ["QATInterpolate"]


class QATInterpolate(QATModule):
    """``F.interpolate`` (``nearest`` or ``bilinear``) on a quantized tensor.

    ``nearest`` only copies values, so the output keeps the input's qparams (no fake quant,
    exported as an integer ``Resize``). ``bilinear`` produces new values and fake-quantizes
    them with its own observer, except a bilinear upsampling by integer ``scale_factor`` with
    ``align_corners=False`` (``int_factors``): its values stay within the input's range, so
    the output keeps the input's qparams, and with fake quant on (QAT, VALIDATION) the forward
    value is the integer module's formula
    (:func:`hat.quantization.quantized.int_upsample.upsample_integer` of the input codes) with
    the float op's gradient (straight through): a VALIDATION-state QAT model equals its
    integer model bit for bit. ``fake_quant_switch`` only carries the fake-quant state
    (``set_fake_quantize``, the debug tools' per-module switch); it never quantizes a tensor.
    """

    def __init__(
        self,
        scale_factor: float | None,
        size: tuple[int, int] | None,
        mode: str,
        align_corners: bool | None,
        qconfig: QConfig,
    ) -> None:
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise NotImplementedError(
                f"quantized Interpolate supports nearest/bilinear, not {mode}"
            )
        self.scale_factor = scale_factor
        self.size = size
        self.mode = mode
        self.align_corners = None if mode == "nearest" else bool(align_corners)
        self.int_factors = integer_upsample_factors(scale_factor, size, mode, align_corners)
        self._init_output(qconfig)
        if mode == "nearest":
            self.activation_post_process = None
        elif self.int_factors is not None:
            self.activation_post_process = None
            spec = QuantSpec(dtype=qconfig.activation.dtype, fixed_scale=1.0)
            self.fake_quant_switch = FakeQuantize(spec)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATInterpolate:
        return cls(mod.scale_factor, mod.size, mod.mode, mod.align_corners, qconfig)

    def output_size(self, in_hw: tuple[int, int], size: tuple[int, int] | None) -> tuple[int, int]:
        size = size or self.size
        if size is not None:
            return (int(size[0]), int(size[1]))
        sf = self.scale_factor
        sh, sw = (sf, sf) if not isinstance(sf, (tuple, list)) else sf
        return (int(in_hw[0] * sh), int(in_hw[1] * sw))

    def forward(self, x: QTensor, size: tuple[int, int] | None = None) -> QTensor:
        size = size or self.size
        if all_float(x):
            return F.interpolate(
                x,
                size=size,
                scale_factor=None if size else self.scale_factor,
                mode=self.mode,
                align_corners=self.align_corners,
            )
        xq = expect_qtensor(x, self)
        y = F.interpolate(
            plain(xq),
            size=size,
            scale_factor=None if size else self.scale_factor,
            mode=self.mode,
            align_corners=self.align_corners,
        )
        if self.mode == "nearest":
            return make_qtensor(y, xq.q_scale, xq.q_zero_point, xq.q_dtype)
        if self.int_factors is not None:
            if self.fake_quant_switch.fake_quant_enabled:
                y = y + (self._integer_value(xq, tuple(y.shape[-2:])) - y).detach()
            return make_qtensor(y, xq.q_scale, xq.q_zero_point, xq.q_dtype)
        return self._wrap_output(y)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # checkpoints written before the integer path have no switch but an output observer
        # (``activation_post_process.*``, ignored: that child is None): keep the switch's buffers
        if self.int_factors is not None:
            switch = prefix + "fake_quant_switch."
            for k, v in self.fake_quant_switch.state_dict().items():
                state_dict.setdefault(switch + k, v)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def _integer_value(self, x: QTensor, out_hw: tuple[int, int]) -> torch.Tensor:
        """The integer module's output on the input's codes, dequantized."""
        from hat.quantization.quantized.interpolate import check_int_geometry

        sh, sw = self.int_factors
        check_int_geometry(self, tuple(x.shape[-2:]), out_hw, sh, sw)
        s, zp, qd = x.q_scale, int(x.q_zero_point), x.q_dtype
        codes = (torch.round(plain(x) / s) + zp).clamp(qd.qmin, qd.qmax).to(torch.int32)
        q = upsample_integer(codes, zp, sh, sw)
        return (q.to(torch.float32) - zp) * s

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.interpolate import IntInterpolate

        return IntInterpolate.from_qat(self)
