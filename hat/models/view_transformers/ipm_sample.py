"""Multi-view sampling of feature maps at IPM points, fused by a maximum over the views.

``IpmSample`` is the quantizable op of :class:`WrappingTransformer`: its QAT and integer
counterparts are ``hat.quantization.qat.ipm_sample.QATIpmSample`` and
``hat.quantization.quantized.ipm_sample.IntIpmSample``. Quantized, the points are int16 codes
with a power-of-two scale (:func:`grid_quant_scale_for`) and the sampling is integer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.quantized.ipm_sample import default_grid_scale, grid_bits

__all__ = ["IpmSample", "grid_quant_scale_for", "check_grid_quant_scale"]

_MODES = ("bilinear", "nearest")


def grid_quant_scale_for(feat_hw: Sequence[int]) -> float:
    """The default int16 scale of the points for a ``(Hf, Wf)`` feature map: ``2^-k`` with the
    largest ``k <= 14`` such that ``max(Hf, Wf, 2) * 2^k <= 32767`` (kept points lie in
    ``[-1, Wf] x [-1, Hf]``, OUTSIDE is ``-2``). ``(32, 60)`` -> ``2^-9`` (60 * 512 = 30720)."""
    if len(feat_hw) != 2:
        raise ValueError(f"feat_hw must be (Hf, Wf), got {feat_hw!r}")
    return default_grid_scale(int(feat_hw[0]), int(feat_hw[1]))


def check_grid_quant_scale(scale: float | None) -> float | None:
    """``scale`` if it is None or ``2^-k`` (``0 <= k <= 14``), else ValueError."""
    if scale is None:
        return None
    grid_bits(scale)
    return float(scale)


class IpmSample(nn.Module):
    """``out[b] = max_v sample(feats[b*V + v], points[b*V + v])`` (``V = num_views``).

    ``sample`` is ``grid_sample`` with zero padding at pixel coordinates (feature pixel centres
    at integers; ``u`` along the width). In training, each view of each sample is zeroed with
    probability ``drop_prob`` before the maximum.

    Args:
        num_views: views per sample.
        drop_prob: probability of dropping a view (training only).
        grid_quant_scale: int16 scale of the points when quantized (a power of two); None:
            :func:`grid_quant_scale_for` of the feature size seen first.
        mode: ``"bilinear"`` or ``"nearest"`` (float only).
    """

    def __init__(
        self,
        num_views: int = 6,
        drop_prob: float = 0.0,
        grid_quant_scale: float | None = None,
        mode: str = "bilinear",
    ) -> None:
        super().__init__()
        if int(num_views) <= 0:
            raise ValueError(f"num_views must be > 0, got {num_views!r}")
        if not 0.0 <= float(drop_prob) < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.num_views = int(num_views)
        self.drop_prob = float(drop_prob)
        self.grid_quant_scale = check_grid_quant_scale(grid_quant_scale)
        self.mode = mode

    def check_inputs(self, feats: torch.Tensor, points: torch.Tensor) -> tuple[int, int, int]:
        """``(B, Hb, Wb)`` of valid inputs, or a ValueError naming the bad shape."""
        if feats.dim() != 4 or feats.shape[0] % self.num_views:
            raise ValueError(
                f"IpmSample: feats must be (B*{self.num_views}, C, Hf, Wf), got "
                f"{tuple(feats.shape)}"
            )
        if points.dim() != 4 or points.shape[0] != feats.shape[0] or points.shape[-1] != 2:
            raise ValueError(
                f"IpmSample: points must be ({feats.shape[0]}, Hb, Wb, 2), got "
                f"{tuple(points.shape)}"
            )
        return feats.shape[0] // self.num_views, int(points.shape[1]), int(points.shape[2])

    def keep_mask(self, batch: int, device: torch.device) -> torch.Tensor | None:
        """``(B, V)`` float 0/1 mask of the kept views in training (None: all kept)."""
        if not self.training or self.drop_prob == 0.0:
            return None
        return (torch.rand(batch, self.num_views, device=device) >= self.drop_prob).float()

    def sample_views(self, feats: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """``(B, V, C, Hb, Wb)`` samples of every view (zero padding)."""
        b, hb, wb = self.check_inputs(feats, points)
        hf, wf = feats.shape[-2:]
        pts = points.to(feats.dtype)
        # pixel centre u -> normalised (2u + 1) / W - 1 (align_corners=False): the integer
        # pixel centres of the align_corners=True convention, valid for W = 1 too
        size = torch.tensor([wf, hf], dtype=pts.dtype, device=pts.device)
        grid = (2.0 * pts + 1.0) / size - 1.0
        out = F.grid_sample(feats, grid, mode=self.mode, padding_mode="zeros", align_corners=False)
        return out.reshape(b, self.num_views, feats.shape[1], hb, wb)

    def forward(self, feats: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        views = self.sample_views(feats, points)
        keep = self.keep_mask(views.shape[0], views.device)
        if keep is not None:
            views = views * keep.view(*keep.shape, 1, 1, 1)
        return views.amax(dim=1)

    def extra_repr(self) -> str:
        return (
            f"num_views={self.num_views}, drop_prob={self.drop_prob}, "
            f"grid_quant_scale={self.grid_quant_scale}, mode={self.mode}"
        )
