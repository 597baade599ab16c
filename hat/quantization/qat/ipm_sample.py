"""QAT multi-view IPM sampling (``IpmSample`` of the BEV view transformer).

The output keeps the features' qparams (sampling and the maximum stay inside the input's
range, zero included), so there is no output observer. The points are quantized to int16 with
the power-of-two ``grid_scale`` (the float module's ``grid_quant_scale``, or derived from the
first feature size seen: ``default_grid_scale``); ``points_fake_quant`` holds it and follows
the model's fake-quant state.

With fake quant on (QAT, VALIDATION) the forward value is the integer module's formula
(``hat.quantization.quantized.ipm_sample``) and the gradient the float op's (straight
through), so a VALIDATION-state QAT model equals its integer model bit for bit. In
CALIBRATION the float op runs. Dropped views (training) are zero in both.
"""

from __future__ import annotations

import torch
from torch import nn

from hat.quantization.fake_quantize import FakeQuantize
from hat.quantization.qat.base import QATModule, expect_qtensor
from hat.quantization.qconfig import QConfig, QuantSpec
from hat.quantization.qtensor import QTensor, make_qtensor, plain
from hat.quantization.quantized.ipm_sample import (
    check_grid_fits,
    default_grid_scale,
    grid_bits,
    ipm_sample_integer,
    quantize_points,
)

__all__ = ["QATIpmSample"]


class QATIpmSample(QATModule):
    """QAT ``IpmSample`` (see module doc)."""

    def __init__(self, float_module: nn.Module, qconfig: QConfig) -> None:
        super().__init__()
        if float_module.mode != "bilinear":
            raise NotImplementedError(
                f"quantized IpmSample supports mode='bilinear', not {float_module.mode!r}"
            )
        self.qconfig = qconfig
        self.float_module = float_module
        self.num_views = int(float_module.num_views)
        given = float_module.grid_quant_scale
        self.register_buffer("grid_scale", torch.tensor(float(given or 0.0)))
        spec = QuantSpec(dtype="int16", symmetric=True, fixed_scale=float(given or 1.0))
        self.points_fake_quant = FakeQuantize(spec)

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATIpmSample:
        return cls(mod, qconfig)

    def _grid_scale(self, hf: int, wf: int) -> float:
        """The points' scale, derived from ``(Hf, Wf)`` on first use and kept in a buffer."""
        if float(self.grid_scale) <= 0:
            self.grid_scale.fill_(default_grid_scale(hf, wf))
        s = float(self.grid_scale)
        check_grid_fits(s, hf, wf)
        fq = self.points_fake_quant
        if fq.fixed_scale != s:
            fq.fixed_scale = s
            fq.scale.fill_(s)
        return s

    def forward(self, feats: QTensor, points: torch.Tensor) -> QTensor | torch.Tensor:
        if not isinstance(feats, QTensor):
            return self.float_module(feats, points)
        xq = expect_qtensor(feats, self)
        if isinstance(points, QTensor):
            raise TypeError("IpmSample: points must be float (the module quantizes them)")
        fm = self.float_module
        fm.check_inputs(xq, points)
        hf, wf = xq.shape[-2:]
        self._grid_scale(hf, wf)
        pts = self.points_fake_quant(plain(points).float())
        x = plain(xq)
        views = fm.sample_views(x, pts)
        keep = fm.keep_mask(views.shape[0], views.device)
        if keep is not None:
            views = views * keep.view(*keep.shape, 1, 1, 1)
        y = views.amax(dim=1)
        if self.points_fake_quant.fake_quant_enabled:
            y = y + (self._integer_value(xq, points, keep) - y).detach()
        return make_qtensor(y, xq.q_scale, xq.q_zero_point, xq.q_dtype)

    @torch.no_grad()
    def _integer_value(
        self, x: QTensor, points: torch.Tensor, keep: torch.Tensor | None
    ) -> torch.Tensor:
        """The integer module's output, dequantized."""
        s, zp = x.q_scale, int(x.q_zero_point)
        qd = x.q_dtype
        codes = (torch.round(plain(x) / s) + zp).clamp(qd.qmin, qd.qmax).to(torch.int32)
        scale = float(self.grid_scale)
        pc = quantize_points(points, scale)
        q = ipm_sample_integer(codes, zp, qd, pc, grid_bits(scale), self.num_views, keep)
        return (q.to(torch.float32) - zp) * s

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.ipm_sample import IntIpmSample

        return IntIpmSample.from_qat(self)
