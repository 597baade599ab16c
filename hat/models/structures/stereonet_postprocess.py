"""StereoNet post-processing: normalised disparities -> pixels at the input resolution."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hat.registry import OBJECT_REGISTRY

__all__ = ["StereoNetPostProcess"]


@OBJECT_REGISTRY.register
class StereoNetPostProcess(nn.Module):
    """Float post-processing of :class:`StereoNetHead` outputs (after its DeQuantStubs).

    The head predicts disparities in units of ``maxdisp``. ``forward(preds, size=None)``:

    - ``size=None`` (evaluation): the finest prediction times ``maxdisp``, ``(B, 1, H, W)`` in
      input pixels;
    - ``size=(H, W)`` (training): every level resized bilinearly to ``size`` and multiplied by
      ``maxdisp`` (the unit is resolution independent, so no other rescaling), finest last.
    """

    def __init__(self, maxdisp: int = 192) -> None:
        super().__init__()
        self.maxdisp = int(maxdisp)

    def forward(
        self, preds: Sequence[torch.Tensor], size: Sequence[int] | None = None
    ) -> torch.Tensor | list[torch.Tensor]:
        if size is None:
            return preds[-1] * float(self.maxdisp)
        out = []
        for p in preds:
            if tuple(p.shape[-2:]) != tuple(size):
                p = F.interpolate(p, size=tuple(size), mode="bilinear", align_corners=False)
            out.append(p * float(self.maxdisp))
        return out

    def extra_repr(self) -> str:
        return f"maxdisp={self.maxdisp}"
