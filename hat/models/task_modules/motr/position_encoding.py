"""DETR's sine positional encoding of a 2-d feature map."""

from __future__ import annotations

import math

import torch
from torch import nn

from hat.quantization.quantized.base import DATA_MOVEMENT, Deployment

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine encoding of the (normalised) row and column index (Carion et al. 2020).

    Args:
        num_pos_feats: channels per axis; the output has ``2 * num_pos_feats`` (y first, then x).
        temperature: wavelength base.
        normalize: divide the cumulative index by its last value (per image) and times ``scale``.
        scale: range of the normalised index.
        offset: added to the cumulative index before normalising (DETR 0, Deformable DETR -0.5).

    ``forward(mask (B, H, W) bool, True at padding) -> (B, 2 * num_pos_feats, H, W)``; the
    index counts valid pixels only, channel pairs alternate ``sin``, ``cos``.
    """

    def __init__(
        self,
        num_pos_feats: int = 128,
        temperature: float = 10000,
        normalize: bool = True,
        scale: float = 2 * math.pi,
        offset: float = 0.0,
    ) -> None:
        super().__init__()
        if num_pos_feats % 2 != 0:
            raise ValueError(f"num_pos_feats must be even, got {num_pos_feats}")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale
        self.offset = offset

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """Encode the valid pixels of ``mask``."""
        if mask.dim() != 3 or mask.dtype != torch.bool:
            raise ValueError(
                f"PositionEmbeddingSine: mask must be bool (B, H, W), "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if self.normalize:
            eps = 1e-6
            y_embed = (y_embed + self.offset) / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = (x_embed + self.offset) / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (
            2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats
        )
        pos_x = x_embed[..., None] / dim_t
        pos_y = y_embed[..., None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)

    def deployment(self, inputs, output) -> Deployment:
        """A constant of the deployed graph (it depends on the feature size only)."""
        return Deployment(
            DATA_MOVEMENT,
            "a constant of the deployed graph: computed once at export and stored as the "
            "integer codes of the QuantStub that reads it",
        )
