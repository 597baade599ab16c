"""Integer Interpolate.

* ``nearest``: copies integer values (same qparams); ONNX ``Resize`` (nearest, asymmetric,
  floor) directly on the integer tensor.
* ``bilinear``: ``Q(bilinear(DQ(x)))`` where ``bilinear`` reproduces ONNX Runtime's CPU
  ``Resize`` (linear) float32 arithmetic exactly: per output row/column the source coordinate
  (``pytorch_half_pixel`` or ``align_corners``) is clamped to the image, the two neighbours
  ``i1 = int(c)``, ``i2 = min(i1 + 1, n - 1)`` get weights ``d1 = |c - i1|``, ``d2 = |c - i2|``
  (both 0.5 where ``i1 == i2``), and
  ``y = ((dx2*dy2)*X11 + (dx1*dy2)*X21) + (dx2*dy1)*X12 + (dx1*dy1)*X22`` in float32, left to
  right. ORT keeps DQ -> Resize(linear) -> Q in float (there is no integer bilinear kernel): a
  small named float island whose result the integer model reproduces bit for bit.
* ``bilinear`` by integer ``scale_factor`` (``align_corners=False``, the QAT module's
  ``int_factors``): integer codes only, fixed-point weights, exported as int32 ONNX ops
  (:mod:`hat.quantization.quantized.int_upsample`); the output keeps the input's qparams.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization import tracing
from hat.quantization.qat.base import all_float
from hat.quantization.qtensor import QTensor, make_qtensor, make_traced, plain
from hat.quantization.quantized.base import (
    DATA_MOVEMENT,
    FLOAT_ISLAND,
    INTEGER,
    Deployment,
    IntModule,
    bilinear_macs,
    expect_int_qtensor,
    is_quantized,
)
from hat.quantization.quantized.int_upsample import export_upsample_integer, upsample_integer
from hat.quantization.quantized.intops import dequantize, quantize

__all__ = ["IntInterpolate", "check_int_geometry", "ort_linear_coords", "ort_bilinear"]


def ort_linear_coords(
    out_len: int, in_len: int, scale: np.float32, align_corners: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Neighbour indices and weights of ORT's linear Resize along one axis (float32)."""
    o = np.arange(out_len, dtype=np.float32)
    if scale == np.float32(1.0) and not align_corners:
        c = o
    elif align_corners:
        c = (o * np.float32(in_len - 1)) / np.float32(out_len - 1) if out_len > 1 else o * 0
    else:
        c = (o + np.float32(0.5)) / scale - np.float32(0.5) if out_len > 1 else o * 0
    c = np.clip(c.astype(np.float32), np.float32(0), np.float32(in_len - 1)).astype(np.float32)
    i1 = np.minimum(c.astype(np.int64), in_len - 1)
    i2 = np.minimum(i1 + 1, in_len - 1)
    d1 = np.abs(c - i1.astype(np.float32)).astype(np.float32)
    d2 = np.abs(c - i2.astype(np.float32)).astype(np.float32)
    same = i1 == i2
    d1[same] = 0.5
    d2[same] = 0.5
    return i1, i2, d1, d2


def ort_bilinear(
    x: torch.Tensor,
    out_hw: tuple[int, int],
    scales: tuple[float, float],
    align_corners: bool,
) -> torch.Tensor:
    """ORT's float32 bilinear Resize of an NCHW float32 tensor (bit-exact emulation)."""
    h, w = x.shape[-2:]
    y1, y2, dy1, dy2 = ort_linear_coords(out_hw[0], h, np.float32(scales[0]), align_corners)
    x1, x2, dx1, dx2 = ort_linear_coords(out_hw[1], w, np.float32(scales[1]), align_corners)
    t = lambda a: torch.from_numpy(a).to(x.device)  # noqa: E731
    r1, r2 = x.index_select(-2, t(y1)), x.index_select(-2, t(y2))
    x11, x21 = r1.index_select(-1, t(x1)), r1.index_select(-1, t(x2))
    x12, x22 = r2.index_select(-1, t(x1)), r2.index_select(-1, t(x2))
    dy1_, dy2_ = t(dy1)[:, None], t(dy2)[:, None]
    dx1_, dx2_ = t(dx1)[None, :], t(dx2)[None, :]
    out = (dx2_ * dy2_) * x11
    out = out + (dx1_ * dy2_) * x21
    out = out + (dx2_ * dy1_) * x12
    return out + (dx1_ * dy1_) * x22


class IntInterpolate(IntModule):
    """Integer Interpolate (see module doc)."""

    def __init__(self, qat: nn.Module) -> None:
        super().__init__()
        self.scale_factor = qat.scale_factor
        self.size = qat.size
        self.mode = qat.mode
        self.align_corners = qat.align_corners
        self.int_factors = getattr(qat, "int_factors", None)
        fq = qat.activation_post_process
        if fq is not None and self.int_factors is None:
            self._init_output(fq.scale, fq.zero_point, fq.qdtype)

    @classmethod
    def from_qat(cls, qat: nn.Module) -> IntInterpolate:
        return cls(qat)

    def _geometry(
        self, in_hw: tuple[int, int], size: tuple[int, int] | None
    ) -> tuple[tuple[int, int], tuple[float, float], bool]:
        """Output size, ORT scales (float32) and whether ``sizes`` (not ``scales``) is used."""
        size = size or self.size
        if size is not None:
            out = (int(size[0]), int(size[1]))
            sc = tuple(float(np.float32(o) / np.float32(i)) for o, i in zip(out, in_hw))
            return out, sc, True
        sf = self.scale_factor
        sh, sw = (sf, sf) if not isinstance(sf, (tuple, list)) else sf
        sc = (float(np.float32(sh)), float(np.float32(sw)))
        out = (int(np.floor(in_hw[0] * sc[0])), int(np.floor(in_hw[1] * sc[1])))
        return out, sc, False

    def forward(self, x: QTensor, size: tuple[int, int] | None = None) -> QTensor:
        if all_float(x):
            return self._float_forward(x, size)
        x = expect_int_qtensor(x, self)
        in_hw = tuple(x.shape[-2:])
        out_hw, scales, by_size = self._geometry(in_hw, size)
        if self.mode == "nearest":
            data = plain(x)
            if data.dtype == torch.uint8:
                y = F.interpolate(data, size=out_hw, mode="nearest")
            else:
                y = F.interpolate(data.float(), size=out_hw, mode="nearest").to(data.dtype)
            out = make_qtensor(y, x.q_scale, x.q_zero_point, x.q_dtype)
        elif self.int_factors is not None:
            sh, sw = self.int_factors
            check_int_geometry(self, in_hw, out_hw, sh, sw)
            y = upsample_integer(plain(x), int(x.q_zero_point), sh, sw)
            out = make_qtensor(y, x.q_scale, x.q_zero_point, x.q_dtype)
        else:
            f = ort_bilinear(
                dequantize(plain(x), x.q_scale, int(x.q_zero_point)),
                out_hw,
                scales,
                bool(self.align_corners),
            )
            out = self._wrap(quantize(f, self.out_scale, self.out_zp, self.out_qdtype))
        self._emit(lambda rec: self._export(rec, x, out, out_hw, scales, by_size))
        return out

    def _float_forward(self, x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
        """Float input (model post-processing after a DeQuantStub): bilinear uses ORT's own
        float32 formula, so the exported file's float Resize gives the same bits."""
        if self.mode != "bilinear" or x.dtype != torch.float32:
            size = size or self.size
            return F.interpolate(
                x,
                size=size,
                scale_factor=None if size else self.scale_factor,
                mode=self.mode,
                align_corners=self.align_corners,
            )
        out_hw, scales, by_size = self._geometry(tuple(x.shape[-2:]), size)
        with torch.no_grad():
            y = ort_bilinear(plain(x).float(), out_hw, scales, bool(self.align_corners))
        if not tracing.is_tracing():
            return y
        y = make_traced(y)
        src = self._name(x)

        def export(rec) -> None:
            n, c = x.shape[:2]
            if by_size:
                geom = ["", rec.const(np.array([n, c, *out_hw], np.int64), "sizes")]
            else:
                geom = [rec.const(np.array([1, 1, *scales], np.float32), "scales")]
            roi = rec.const(np.zeros(0, np.float32), "roi")
            ctm = "align_corners" if self.align_corners else "pytorch_half_pixel"
            y.trace_name = rec.node1(
                "Resize",
                [src, roi, *geom],
                "resize",
                mode="linear",
                coordinate_transformation_mode=ctm,
            )

        self._emit(export)
        return y

    def _export(self, rec, x: QTensor, out: QTensor, out_hw, scales, by_size: bool) -> None:
        n, c = x.shape[:2]
        if self.mode != "nearest" and self.int_factors is not None:
            sh, sw = self.int_factors
            shape = tuple(x.shape)
            out.trace_name = export_upsample_integer(rec, self._name(x), shape, x.q_dtype, sh, sw)
            return
        if by_size:
            geom = ["", rec.const(np.array([n, c, *out_hw], np.int64), "sizes")]
        else:
            geom = [rec.const(np.array([1, 1, *scales], np.float32), "scales")]
        roi = rec.const(np.zeros(0, np.float32), "roi")
        if self.mode == "nearest":
            src = self._name(x)
            if x.q_dtype.name == "int16":
                src = self._dq(rec, x, "x")
            y = rec.node1(
                "Resize",
                [src, roi, *geom],
                "resize",
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            )
            if x.q_dtype.name == "int16":
                y = rec.quantize(y, float(x.q_scale), int(x.q_zero_point), np.int16, "resize_q")
            out.trace_name = y
            return
        ctm = "align_corners" if self.align_corners else "pytorch_half_pixel"
        xd = self._dq(rec, x, "x")
        y = rec.node1(
            "Resize", [xd, roi, *geom], "resize", mode="linear", coordinate_transformation_mode=ctm
        )
        self._q_out(rec, y, out)

    def deployment(self, inputs, output) -> Deployment:
        if not is_quantized(inputs[0]):
            return super().deployment(inputs, output)
        if self.mode == "nearest":
            return Deployment(DATA_MOVEMENT, "Resize (nearest) copying integer values")
        if self.int_factors is not None:
            return Deployment(
                INTEGER,
                "bilinear x{}x{} on integer codes: fixed-point weights, Gather/Mul/Add/Div "
                "on int32, output in the input's qparams".format(*self.int_factors),
            )
        return Deployment(
            FLOAT_ISLAND,
            "ORT has no integer linear Resize: DQ -> Resize(linear) -> Q in float32 "
            "(reproduced bit for bit by the integer model)",
        )

    def macs(self, inputs, output) -> int:
        """Bilinear: 4 multiply-accumulates per output element; nearest: none."""
        return 0 if self.mode == "nearest" else bilinear_macs(output)

    def extra_repr(self) -> str:
        s = f"mode={self.mode}, scale_factor={self.scale_factor}, size={self.size}"
        if self.int_factors is not None:
            s += f", align_corners=False, integer factors {self.int_factors}"
        elif self.mode != "nearest":
            s += f", align_corners={self.align_corners}, " + super().extra_repr()
        return s


def check_int_geometry(
    module: nn.Module, in_hw: tuple[int, int], out_hw: tuple[int, int], sh: int, sw: int
) -> None:
    """ValueError unless ``out_hw`` is ``in_hw`` times the integer factors ``(sh, sw)`` (an
    integer-factor bilinear module has no output scale of its own for another geometry)."""
    if tuple(out_hw) != (in_hw[0] * sh, in_hw[1] * sw):
        raise ValueError(
            f"{type(module).__name__}: built for bilinear upsampling by ({sh}, {sw}) but asked "
            f"for size {tuple(out_hw)} from {tuple(in_hw)}; pass no size at call time, or build "
            "the float Interpolate with size= instead of an integer scale_factor"
        )
