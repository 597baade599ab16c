"""QAT Interpolate: nearest keeps the input qparams, bilinear has its own output scale."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from hat.quantization.qat.base import QATModule, all_float, expect_qtensor
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, make_qtensor, plain

__all__ = ["QATInterpolate"]


class QATInterpolate(QATModule):
    """``F.interpolate`` (``nearest`` or ``bilinear``) on a quantized tensor.

    ``nearest`` only copies values, so the output keeps the input's qparams (no fake quant,
    exported as an integer ``Resize``). ``bilinear`` produces new values and fake-quantizes
    them with its own observer.
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
        self._init_output(qconfig)
        if mode == "nearest":
            self.activation_post_process = None

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
        return self._wrap_output(y)

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.interpolate import IntInterpolate

        return IntInterpolate.from_qat(self)
