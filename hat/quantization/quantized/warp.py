"""Warp (bilinear backward warping) of the integer model, bit-exact on ONNX Runtime.

ORT has no integer GridSample, and its float GridSample rounds differently from torch's
``grid_sample``: one flipped LSB in a warped feature map grows through the following convs.
So the integer model computes the warp with an explicit float32 formula made only of ops that
are exact or correctly rounded element by element (add, sub, mul, floor, compare, gather), in a
fixed order, and the exporter writes the same ops as ONNX nodes. Both sides then agree to the
bit:

* ``px = x + u``, ``py = y + v`` (pixels), ``x0 = floor(px)``, ``wx1 = px - x0``,
  ``wx0 = 1 - wx1`` (same for y);
* corner ``(xi, yj)`` weight ``w = (wyj * wxi) * valid`` with ``valid`` = the corner lies in
  the image (zero padding), value ``gather(feat, clamp(yj) * W + clamp(xi))``;
* ``out = ((v00 * w00 + v10 * w10) + v01 * w01) + v11 * w11`` (x fastest);
* with ``use_mask``: ``mask = ((w00 + w10) + w01) + w11 >= threshold`` (the warped ones of
  ``hat.nn.Warp``), ``out = out * mask``;
* ``y_q = QuantizeLinear(out)``.

The sampling is ``grid_sample``'s (bilinear, zeros padding) up to float32 rounding of the
coordinates; it is still float compute and is listed as a float island.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, plain
from hat.quantization.quantized.base import (
    FLOAT_ISLAND,
    IntModule,
    bilinear_macs,
    expect_int_qtensor,
)
from hat.quantization.quantized.intops import dequantize, quantize

__all__ = ["IntWarp", "explicit_bilinear_warp"]

_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))  # (dx, dy), x fastest


def explicit_bilinear_warp(
    feat: torch.Tensor, flow: torch.Tensor, use_mask: bool, threshold: float
) -> torch.Tensor:
    """The float32 formula of the module doc on ``feat (B, C, H, W)``, ``flow (B, 2, H, W)``."""
    b, c, h, w = feat.shape
    feat, flow = feat.float(), flow.float()
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    px, py = xs + flow[:, 0], ys + flow[:, 1]
    x0, y0 = torch.floor(px), torch.floor(py)
    wx1, wy1 = px - x0, py - y0
    wx = (1.0 - wx1, wx1)
    wy = (1.0 - wy1, wy1)
    flat = feat.reshape(b, c, h * w)
    out = mask = None
    for dx, dy in _CORNERS:
        xc, yc = x0 + dx, y0 + dy
        valid = ((xc >= 0) & (xc <= w - 1) & (yc >= 0) & (yc <= h - 1)).float()
        weight = (wy[dy] * wx[dx]) * valid
        idx = yc.clamp(0, h - 1) * w + xc.clamp(0, w - 1)
        idx = idx.long().reshape(b, 1, h * w).expand(b, c, h * w)
        term = torch.gather(flat, 2, idx).reshape(b, c, h, w) * weight.unsqueeze(1)
        out = term if out is None else out + term
        mask = weight if mask is None else mask + weight
    if use_mask:
        out = out * (mask >= threshold).float().unsqueeze(1)
    return out


class IntWarp(IntModule):
    """Integer-model ``hat.nn.Warp`` (see module doc)."""

    is_float_island = True
    deploy_kind = FLOAT_ISLAND
    deploy_note = (
        "bilinear warp: ORT has no integer GridSample; DQ -> explicit float32 bilinear formula "
        "(Floor/Mul/Add/GatherElements, bit-exact with the integer model) -> Q"
    )

    def macs(self, inputs, output) -> int:
        """4 multiply-accumulates per output element (bilinear sampling)."""
        return bilinear_macs(output)

    def __init__(self, float_module: nn.Module, out_scale, out_zero_point, out_qdtype) -> None:
        super().__init__()
        self.float_module = float_module
        self.use_mask = bool(getattr(float_module, "use_mask", True))
        self.mask_threshold = float(getattr(float_module, "mask_threshold", 0.9999))
        self._init_output(out_scale, out_zero_point, out_qdtype)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntWarp:
        fq = qat.activation_post_process
        return cls(qat.float_module, fq.scale, fq.zero_point, fq.qdtype)

    def forward(self, feat: QTensor, flow: QTensor) -> QTensor:
        if all_float(feat, flow):
            from hat.quantization.quantized.island import float_passthrough

            return float_passthrough(self, self.float_module, (feat, flow))
        feat, flow = expect_int_qtensor(feat, self), expect_int_qtensor(flow, self)
        f = dequantize(plain(feat), feat.q_scale, int(feat.q_zero_point))
        g = dequantize(plain(flow), flow.q_scale, int(flow.q_zero_point))
        with torch.no_grad():
            y = explicit_bilinear_warp(f, g, self.use_mask, self.mask_threshold)
        out = self._wrap(quantize(y, self.out_scale, self.out_zp, self.out_qdtype))
        self._emit(lambda rec: self._export(rec, feat, flow, out))
        return out

    def _export(self, rec, feat: QTensor, flow: QTensor, result: QTensor) -> None:
        b, c, h, w = feat.shape
        f = self._dq(rec, feat, "feat")
        g = self._dq(rec, flow, "flow")
        one = rec.const(np.float32(1.0), "one")
        zero = rec.const(np.float32(0.0), "zero")
        wmax = rec.const(np.float32(w - 1), "wmax")
        hmax = rec.const(np.float32(h - 1), "hmax")
        width = rec.const(np.float32(w), "width")
        chan = [rec.const(np.array(i, np.int64), f"ch{i}") for i in (0, 1)]
        u = rec.node1("Gather", [g, chan[0]], "u", axis=1)
        v = rec.node1("Gather", [g, chan[1]], "v", axis=1)
        xs = rec.const(np.arange(w, dtype=np.float32).reshape(1, 1, w), "xs")
        ys = rec.const(np.arange(h, dtype=np.float32).reshape(1, h, 1), "ys")
        px = rec.node1("Add", [xs, u], "px")
        py = rec.node1("Add", [ys, v], "py")
        x0 = rec.node1("Floor", [px], "x0")
        y0 = rec.node1("Floor", [py], "y0")
        wx1 = rec.node1("Sub", [px, x0], "wx1")
        wy1 = rec.node1("Sub", [py, y0], "wy1")
        wx = (rec.node1("Sub", [one, wx1], "wx0"), wx1)
        wy = (rec.node1("Sub", [one, wy1], "wy0"), wy1)
        xc = (x0, rec.node1("Add", [x0, one], "x1"))
        yc = (y0, rec.node1("Add", [y0, one], "y1"))
        flat = rec.node1(
            "Reshape", [f, rec.const(np.array([b, c, h * w], np.int64), "flat_shape")], "flat"
        )
        idx_shape = rec.const(np.array([b, 1, h * w], np.int64), "idx_shape")
        exp_shape = rec.const(np.array([b, c, h * w], np.int64), "exp_shape")
        out_shape = rec.const(np.array([b, c, h, w], np.int64), "out_shape")
        axis1 = rec.const(np.array([1], np.int64), "axis1")

        def inside(t: str, top: str) -> str:
            lo = rec.node1("GreaterOrEqual", [t, zero], "ge0")
            hi = rec.node1("LessOrEqual", [t, top], "le_max")
            return rec.node1("And", [lo, hi], "inside")

        out = mask = None
        for dx, dy in _CORNERS:
            ok = rec.node1("And", [inside(xc[dx], wmax), inside(yc[dy], hmax)], "valid")
            okf = rec.node1("Cast", [ok], "valid_f", to=1)
            weight = rec.node1("Mul", [rec.node1("Mul", [wy[dy], wx[dx]], "w"), okf], "w_valid")
            cy = rec.node1("Clip", [yc[dy], zero, hmax], "cy")
            cx = rec.node1("Clip", [xc[dx], zero, wmax], "cx")
            idx = rec.node1("Add", [rec.node1("Mul", [cy, width], "row"), cx], "idx_f")
            idx = rec.node1("Cast", [idx], "idx", to=7)
            idx = rec.node1("Reshape", [idx, idx_shape], "idx_r")
            idx = rec.node1("Expand", [idx, exp_shape], "idx_e")
            val = rec.node1("GatherElements", [flat, idx], "val", axis=2)
            val = rec.node1("Reshape", [val, out_shape], "val_r")
            term = rec.node1("Mul", [val, rec.node1("Unsqueeze", [weight, axis1], "w_u")], "term")
            out = term if out is None else rec.node1("Add", [out, term], "acc")
            mask = weight if mask is None else rec.node1("Add", [mask, weight], "mask_acc")
        if self.use_mask:
            thr = rec.const(np.float32(self.mask_threshold), "threshold")
            keep = rec.node1("Cast", [rec.node1("GreaterOrEqual", [mask, thr], "keep")], to=1)
            out = rec.node1("Mul", [out, rec.node1("Unsqueeze", [keep, axis1], "keep_u")], "masked")
        self._q_out(rec, out, result)

    def extra_repr(self) -> str:
        return f"use_mask={self.use_mask}, " + super().extra_repr()
