"""Multi-scale deformable attention (Zhu et al. 2021, Deformable DETR), in plain PyTorch.

Each query attends to ``n_points`` sampled locations per head and feature level, placed around
its reference point by learned offsets; the samples are bilinearly interpolated from the value
map (zero outside it) and mixed with learned, softmax-normalised weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import hat.nn as hnn
from hat.models.view_transformers.ipm_sample import IpmSample
from hat.quantization.quantized.base import FLOAT_ISLAND, Deployment

__all__ = ["MultiScaleDeformableAttention", "ms_deform_attn_sample"]


def _level_sizes(spatial_shapes: torch.Tensor) -> list[tuple[int, int]]:
    if spatial_shapes.dim() != 2 or spatial_shapes.shape[-1] != 2:
        raise ValueError(
            f"spatial_shapes must be (num_levels, 2) of (H, W), got {tuple(spatial_shapes.shape)}"
        )
    return [(int(h), int(w)) for h, w in spatial_shapes.tolist()]


def ms_deform_attn_sample(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Weighted bilinear sampling of a flattened multi-level value map.

    Args:
        value: ``(B, S, heads, dh)``, the levels flattened row-major and concatenated.
        spatial_shapes: ``(L, 2)`` long, ``(H, W)`` of each level (``sum(H * W) == S``).
        sampling_locations: ``(B, Lq, heads, L, P, 2)`` normalised ``(x, y)``; ``0`` and ``1``
            are the outer edges of the map, pixel ``i`` has its centre at ``(i + 0.5) / W``.
        attention_weights: ``(B, Lq, heads, L, P)``.

    Returns:
        ``(B, Lq, heads * dh)``: per head, the sum over levels and points of weight times the
        bilinearly interpolated value (zero padding outside the map), heads concatenated.
    """
    if value.dim() != 4:
        raise ValueError(f"value must be (B, S, heads, dh), got {tuple(value.shape)}")
    sizes = _level_sizes(spatial_shapes)
    b, s, heads, dh = value.shape
    num_levels = len(sizes)
    total = sum(h * w for h, w in sizes)
    if total != s:
        raise ValueError(f"value has {s} positions, spatial_shapes {sizes} cover {total}")
    if (
        sampling_locations.dim() != 6
        or sampling_locations.shape[0] != b
        or sampling_locations.shape[2] != heads
        or sampling_locations.shape[3] != num_levels
        or sampling_locations.shape[-1] != 2
    ):
        raise ValueError(
            f"sampling_locations must be (B={b}, Lq, heads={heads}, L={num_levels}, P, 2), "
            f"got {tuple(sampling_locations.shape)}"
        )
    if attention_weights.shape != sampling_locations.shape[:-1]:
        raise ValueError(
            f"attention_weights must be {tuple(sampling_locations.shape[:-1])} "
            f"(sampling_locations without the last dim), got {tuple(attention_weights.shape)}"
        )
    lq, points = sampling_locations.shape[1], sampling_locations.shape[4]

    value_list = value.split([h * w for h, w in sizes], dim=1)
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1] with align_corners=False
    samples = []
    for lvl, (h, w) in enumerate(sizes):
        # (B, H*W, heads, dh) -> (B*heads, dh, H, W)
        v = value_list[lvl].flatten(2).transpose(1, 2).reshape(b * heads, dh, h, w)
        # (B, Lq, heads, P, 2) -> (B*heads, Lq, P, 2)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)
        samples.append(
            F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        )  # (B*heads, dh, Lq, P)
    # (B, Lq, heads, L, P) -> (B*heads, 1, Lq, L*P)
    weights = attention_weights.transpose(1, 2).reshape(b * heads, 1, lq, num_levels * points)
    out = (torch.stack(samples, dim=-2).flatten(-2) * weights).sum(-1)  # (B*heads, dh, Lq)
    return out.view(b, heads * dh, lq).transpose(1, 2).contiguous()


class MultiScaleDeformableAttention(nn.Module):
    """Deformable DETR's ``MSDeformAttn`` with the sampling in plain PyTorch.

    Args:
        d_model: channels of queries and values (divisible by ``n_heads``).
        n_levels: feature levels sampled.
        n_heads: attention heads.
        n_points: sampled points per head and level.

    ``forward(query (B, Lq, C), reference_points (B, Lq, L, 2|4), input_flatten (B, S, C),
    spatial_shapes (L, 2), level_start_index (L,) or None, input_padding_mask (B, S) or None)
    -> (B, Lq, C)``. Two-value reference points are normalised ``(x, y)``; offsets are in
    pixels of each level. Four-value ones are ``(cx, cy, w, h)`` boxes; offsets are then in
    units of ``box size / (2 * n_points)``. ``input_padding_mask`` is True at padded positions,
    whose values are zeroed. ``level_start_index`` is only checked (the sampling derives the
    level split from ``spatial_shapes``).
    """

    def __init__(
        self, d_model: int = 256, n_levels: int = 1, n_heads: int = 8, n_points: int = 4
    ) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if min(n_levels, n_heads, n_points) < 1:
            raise ValueError(
                f"n_levels, n_heads, n_points must be >= 1, got {n_levels}, {n_heads}, {n_points}"
            )
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        # one level, one point: the softmax over a single weight is exactly 1 (no softmax; the
        # attention_weights Linear is kept for checkpoint compatibility but unused) and the
        # sampling is a single-view IpmSample (integer bilinear sampling once quantized)
        self.single_point = n_levels == 1 and n_points == 1
        if not self.single_point:
            self.softmax = nn.Softmax(dim=-1)
        else:
            self.offset_dequant = hnn.DeQuantStub()
            self.sampler = IpmSample(num_views=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's init: offsets a ring of head directions, point ``i`` at ``i + 1``
        pixels (the direction scaled to unit max-norm); uniform attention; xavier projections."""
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.constant_(self.value_proj.bias, 0.0)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.constant_(self.output_proj.bias, 0.0)

    def _check_inputs(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor | None,
        input_padding_mask: torch.Tensor | None,
    ) -> None:
        name = type(self).__name__
        if query.dim() != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"{name}: query must be (B, Lq, {self.d_model}), got {query.shape}")
        b, lq = query.shape[:2]
        if input_flatten.dim() != 3 or input_flatten.shape[::2] != (b, self.d_model):
            raise ValueError(
                f"{name}: input_flatten must be (B={b}, S, {self.d_model}), "
                f"got {tuple(input_flatten.shape)}"
            )
        if (
            reference_points.dim() != 4
            or reference_points.shape[:3] != (b, lq, self.n_levels)
            or reference_points.shape[-1] not in (2, 4)
        ):
            raise ValueError(
                f"{name}: reference_points must be (B={b}, Lq={lq}, L={self.n_levels}, 2 or 4), "
                f"got {tuple(reference_points.shape)}"
            )
        if spatial_shapes.shape != (self.n_levels, 2):
            raise ValueError(
                f"{name}: spatial_shapes must be ({self.n_levels}, 2), "
                f"got {tuple(spatial_shapes.shape)}"
            )
        s = input_flatten.shape[1]
        total = int((spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum())
        if total != s:
            raise ValueError(
                f"{name}: spatial_shapes {spatial_shapes.tolist()} cover {total} positions, "
                f"input_flatten has {s}"
            )
        if level_start_index is not None and level_start_index.shape != (self.n_levels,):
            raise ValueError(
                f"{name}: level_start_index must be ({self.n_levels},), "
                f"got {tuple(level_start_index.shape)}"
            )
        if input_padding_mask is not None and (
            input_padding_mask.shape != (b, s) or input_padding_mask.dtype != torch.bool
        ):
            raise ValueError(
                f"{name}: input_padding_mask must be bool (B={b}, S={s}), "
                f"got {input_padding_mask.dtype} {tuple(input_padding_mask.shape)}"
            )

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor | None = None,
        input_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from ``query`` to ``input_flatten`` around ``reference_points``."""
        self._check_inputs(
            query,
            reference_points,
            input_flatten,
            spatial_shapes,
            level_start_index,
            input_padding_mask,
        )
        b, lq, _ = query.shape
        s = input_flatten.shape[1]
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        if self.single_point and reference_points.shape[-1] == 2 and input_padding_mask is None:
            return self._forward_single_point(
                query, reference_points, input_flatten, spatial_shapes
            )

        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value * (~input_padding_mask)[..., None].to(value.dtype)
        value = value.view(b, s, heads, self.d_model // heads)

        offsets = self.sampling_offsets(query).view(b, lq, heads, levels, points, 2)
        weights = self.attention_weights(query).view(b, lq, heads, levels * points)
        weights = self.softmax(weights).view(b, lq, heads, levels, points)

        if reference_points.shape[-1] == 2:
            # (W, H) of each level: offsets are in pixels of their level
            normalizer = spatial_shapes.flip(-1).to(query.dtype)
            locations = (
                reference_points[:, :, None, :, None, :]
                + offsets / normalizer[None, None, None, :, None, :]
            )
        else:
            locations = (
                reference_points[:, :, None, :, None, :2]
                + offsets / points * reference_points[:, :, None, :, None, 2:] * 0.5
            )
        out = ms_deform_attn_sample(value, spatial_shapes, locations, weights)
        return self.output_proj(out)

    def _forward_single_point(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        spatial_shapes: torch.Tensor,
    ) -> torch.Tensor:
        """One level, one point per head, 2-d references: each head samples the value map at
        ``reference * (W, H) - 0.5 + offset`` (feature pixels, centres at integers).

        The only float arithmetic is that point computation (after ``offset_dequant``);
        quantized, :class:`IpmSample` rounds the points to its int16 grid and samples the
        integer value map."""
        b, lq, _ = query.shape
        heads, dh = self.n_heads, self.d_model // self.n_heads
        h, w = (int(v) for v in spatial_shapes[0].tolist())
        value = self.value_proj(input_flatten)  # (B, H*W, C)
        value = (
            value.reshape(b, h, w, heads, dh).permute(0, 3, 4, 1, 2).reshape(b * heads, dh, h, w)
        )
        offsets = self.offset_dequant(self.sampling_offsets(query)).reshape(b, lq, heads, 2)
        size = torch.tensor([w, h], dtype=torch.float32, device=query.device)
        base = reference_points[:, :, 0, :] * size - 0.5  # (B, Lq, 2) pixel coordinates
        pts = base.reshape(b, lq, 1, 2) + offsets  # (B, Lq, heads, 2)
        pts = pts.permute(0, 2, 1, 3).reshape(b * heads, lq, 1, 2)
        out = self.sampler(value, pts)  # (B*heads, dh, Lq, 1)
        out = out.reshape(b, heads * dh, lq).transpose(1, 2)
        return self.output_proj(out)

    def deployment(self, inputs, output) -> Deployment:
        """How its own ops deploy (the model checker's row; the Linear layers and the sampler
        have theirs)."""
        return Deployment(
            FLOAT_ISLAND,
            "sampling points: reference * (W, H) - 0.5 + offset, element-wise float32 Mul/Sub/"
            "Add on the dequantized offsets (each correctly rounded, so ORT's values are "
            "identical); the sampler rounds them to its int16 grid",
        )
