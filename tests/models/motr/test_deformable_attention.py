"""Multi-scale deformable attention: the sampling against a direct bilinear reference, its
gradients, and MultiScaleDeformableAttention's init, padding mask and shape checks."""

from __future__ import annotations

import math

import pytest
import torch

from hat.models.task_modules.motr.deformable_attention import (
    MultiScaleDeformableAttention,
    ms_deform_attn_sample,
)

SHAPES = [(3, 4), (2, 5)]  # two levels of different sizes


def _reference_sample(
    value: torch.Tensor,
    shapes: list[tuple[int, int]],
    locations: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Explicit loop: bilinear interpolation between pixel centres ``(i + 0.5) / W``, zero
    outside the map, weighted sum over levels and points, heads concatenated."""
    b, _, heads, dh = value.shape
    lq, points = locations.shape[1], locations.shape[4]
    starts = [0]
    for h, w in shapes[:-1]:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(b, lq, heads, dh, dtype=value.dtype)
    for n in range(b):
        for q in range(lq):
            for m in range(heads):
                for lvl, (h, w) in enumerate(shapes):
                    for p in range(points):
                        x = float(locations[n, q, m, lvl, p, 0]) * w - 0.5
                        y = float(locations[n, q, m, lvl, p, 1]) * h - 0.5
                        x0, y0 = math.floor(x), math.floor(y)
                        fx, fy = x - x0, y - y0
                        sample = torch.zeros(dh, dtype=value.dtype)
                        for yi, wy in ((y0, 1 - fy), (y0 + 1, fy)):
                            for xi, wx in ((x0, 1 - fx), (x0 + 1, fx)):
                                if 0 <= yi < h and 0 <= xi < w:
                                    pix = value[n, starts[lvl] + yi * w + xi, m]
                                    sample = sample + wy * wx * pix
                        out[n, q, m] += weights[n, q, m, lvl, p] * sample
    return out.reshape(b, lq, heads * dh)


def _random_inputs(
    b: int, lq: int, heads: int, dh: int, points: int, shapes: list[tuple[int, int]], seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = sum(h * w for h, w in shapes)
    value = torch.randn(b, s, heads, dh, generator=g, dtype=torch.float64)
    locations = torch.rand(b, lq, heads, len(shapes), points, 2, generator=g, dtype=torch.float64)
    locations = locations * 1.4 - 0.2  # some samples straddle or leave the border
    weights = torch.rand(b, lq, heads, len(shapes), points, generator=g, dtype=torch.float64)
    return value, torch.tensor(shapes, dtype=torch.long), locations, weights


def test_sample_matches_direct_bilinear_reference() -> None:
    value, spatial_shapes, locations, weights = _random_inputs(2, 4, 2, 3, 3, SHAPES, seed=0)
    got = ms_deform_attn_sample(value, spatial_shapes, locations, weights)
    want = _reference_sample(value, SHAPES, locations, weights)
    assert got.shape == (2, 4, 6)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_sample_outside_the_map_is_zero() -> None:
    value, spatial_shapes, locations, weights = _random_inputs(1, 3, 2, 2, 2, SHAPES, seed=1)
    outside = torch.tensor([[-1.0, 0.5], [2.0, 0.5], [0.5, -0.8]], dtype=torch.float64)
    locations = outside[None, :, None, None, None, :].expand_as(locations).clone()
    got = ms_deform_attn_sample(value, spatial_shapes, locations, weights)
    assert torch.equal(got, torch.zeros_like(got))
    # a point exactly on a pixel centre returns that pixel
    h, w = SHAPES[0]
    locations = torch.zeros(1, 1, 1, 2, 1, 2, dtype=torch.float64)
    locations[0, 0, 0, 0, 0] = torch.tensor([(2 + 0.5) / w, (1 + 0.5) / h])
    locations[0, 0, 0, 1, 0] = -5.0
    weights = torch.ones(1, 1, 1, 2, 1, dtype=torch.float64)
    got = ms_deform_attn_sample(value[:, :, :1], spatial_shapes, locations, weights)
    torch.testing.assert_close(got[0, 0], value[0, 1 * w + 2, 0], atol=1e-12, rtol=0)


def test_sample_gradients() -> None:
    g = torch.Generator().manual_seed(2)
    shapes = [(2, 3), (3, 2)]
    value = torch.randn(1, 12, 1, 2, generator=g, dtype=torch.float64, requires_grad=True)
    # pixel coordinates k + u, u in [0.2, 0.8]: away from pixel centres, where bilinear
    # interpolation has kinks; k = -1 and k = size - 1 sample half outside the map
    locs = torch.empty(1, 2, 1, 2, 2, 2, dtype=torch.float64)
    for lvl, (h, w) in enumerate(shapes):
        for axis, size in ((0, w), (1, h)):
            k = torch.randint(-1, size, (1, 2, 1, 2), generator=g).double()
            u = 0.2 + 0.6 * torch.rand(1, 2, 1, 2, generator=g, dtype=torch.float64)
            locs[:, :, :, lvl, :, axis] = (k + u + 0.5) / size
    locs.requires_grad_(True)
    weights = torch.rand(1, 2, 1, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    spatial_shapes = torch.tensor(shapes, dtype=torch.long)
    assert torch.autograd.gradcheck(
        lambda v, loc, a: ms_deform_attn_sample(v, spatial_shapes, loc, a),
        (value, locs, weights),
        eps=1e-6,
        atol=1e-8,
    )


def test_sample_rejects_bad_shapes() -> None:
    value, spatial_shapes, locations, weights = _random_inputs(1, 2, 2, 2, 2, SHAPES, seed=3)
    with pytest.raises(ValueError, match="positions"):
        ms_deform_attn_sample(value[:, :-1], spatial_shapes, locations, weights)
    with pytest.raises(ValueError, match="sampling_locations"):
        ms_deform_attn_sample(value, spatial_shapes, locations[:, :, :1], weights)
    with pytest.raises(ValueError, match="attention_weights"):
        ms_deform_attn_sample(value, spatial_shapes, locations, weights[..., :1])


def test_init_offsets_form_a_ring() -> None:
    heads, levels, points = 8, 2, 3
    attn = MultiScaleDeformableAttention(32, levels, heads, points)
    assert torch.equal(attn.sampling_offsets.weight, torch.zeros_like(attn.sampling_offsets.weight))
    assert torch.equal(
        attn.attention_weights.weight, torch.zeros_like(attn.attention_weights.weight)
    )
    assert torch.equal(attn.attention_weights.bias, torch.zeros_like(attn.attention_weights.bias))
    bias = attn.sampling_offsets.bias.detach().view(heads, levels, points, 2)
    for m in range(heads):
        theta = 2 * math.pi * m / heads
        direction = torch.tensor([math.cos(theta), math.sin(theta)])
        direction = direction / direction.abs().max()
        for p in range(points):
            for lvl in range(levels):
                torch.testing.assert_close(bias[m, lvl, p], (p + 1) * direction)
    # at init a query samples its reference point plus the ring, in pixels of each level
    offsets = attn.sampling_offsets(torch.randn(1, 32)).view(heads, levels, points, 2)
    torch.testing.assert_close(offsets, bias)


def test_padding_mask_zeroes_padded_values() -> None:
    torch.manual_seed(0)
    attn = MultiScaleDeformableAttention(16, n_levels=2, n_heads=2, n_points=3)
    torch.nn.init.normal_(attn.sampling_offsets.weight, std=0.5)
    torch.nn.init.normal_(attn.attention_weights.weight, std=0.5)
    spatial_shapes = torch.tensor(SHAPES, dtype=torch.long)
    level_start_index = torch.tensor([0, 12])
    s = 22
    query = torch.randn(2, 5, 16)
    ref = torch.rand(2, 5, 2, 2)
    src = torch.randn(2, s, 16)
    mask = torch.zeros(2, s, dtype=torch.bool)
    mask[0, 3:7] = True
    mask[1, 15:] = True
    out = attn(query, ref, src, spatial_shapes, level_start_index, mask)
    assert out.shape == (2, 5, 16)
    # the content of padded positions does not matter
    src2 = torch.where(mask[..., None], torch.randn_like(src) * 100, src)
    out2 = attn(query, ref, src2, spatial_shapes, level_start_index, mask)
    torch.testing.assert_close(out, out2, atol=1e-6, rtol=0)
    # and equals sampling a value map whose padded positions are zero
    value = attn.value_proj(src).masked_fill(mask[..., None], 0.0).view(2, s, 2, 8)
    offsets = attn.sampling_offsets(query).view(2, 5, 2, 2, 3, 2)
    weights = attn.attention_weights(query).view(2, 5, 2, 6).softmax(-1).view(2, 5, 2, 2, 3)
    normalizer = torch.tensor([[w, h] for h, w in SHAPES], dtype=torch.float32)
    locations = ref[:, :, None, :, None] + offsets / normalizer[None, None, None, :, None]
    want = attn.output_proj(ms_deform_attn_sample(value, spatial_shapes, locations, weights))
    torch.testing.assert_close(out, want, atol=1e-6, rtol=0)
    # every position padded: only the output bias is left
    full = torch.ones(2, s, dtype=torch.bool)
    out = attn(query, ref, src, spatial_shapes, level_start_index, full)
    torch.testing.assert_close(out, attn.output_proj.bias.expand_as(out), atol=1e-7, rtol=0)


def test_box_reference_points_and_shape_checks() -> None:
    attn = MultiScaleDeformableAttention(16, n_levels=1, n_heads=2, n_points=2)
    spatial_shapes = torch.tensor([[4, 5]])
    query, src = torch.randn(2, 3, 16), torch.randn(2, 20, 16)
    boxes = torch.rand(2, 3, 1, 4)
    assert attn(query, boxes, src, spatial_shapes).shape == (2, 3, 16)
    with pytest.raises(ValueError, match="reference_points"):
        attn(query, torch.rand(2, 3, 1, 3), src, spatial_shapes)
    with pytest.raises(ValueError, match="cover 20 positions"):
        attn(query, boxes, src[:, :-1], spatial_shapes)
    with pytest.raises(ValueError, match="query"):
        attn(query[..., :8], boxes, src, spatial_shapes)
    with pytest.raises(ValueError, match="input_padding_mask"):
        attn(query, boxes, src, spatial_shapes, None, torch.zeros(2, 20))
    with pytest.raises(ValueError, match="divisible"):
        MultiScaleDeformableAttention(10, n_heads=3)


def test_single_point_path_equals_the_general_sampling() -> None:
    """One level and one point (MOTR's setting) samples through a one-view IpmSample at pixel
    coordinates; values and gradients equal the general grid_sample path."""
    torch.manual_seed(3)
    attn = MultiScaleDeformableAttention(16, n_levels=1, n_heads=4, n_points=1)
    assert attn.single_point
    with torch.no_grad():
        attn.sampling_offsets.weight.normal_(0, 0.5)  # offsets of a few pixels, some outside
    h, w, lq = 5, 7, 9
    query = torch.randn(2, lq, 16)
    src = torch.randn(2, h * w, 16, requires_grad=True)
    ref = torch.rand(2, lq, 1, 2) * 1.2 - 0.1
    shapes = torch.tensor([[h, w]])
    out = attn(query, ref, src, shapes)

    value = attn.value_proj(src).view(2, h * w, 4, 4)
    offsets = attn.sampling_offsets(query).view(2, lq, 4, 1, 1, 2)
    locations = ref[:, :, None, :, None, :] + offsets / torch.tensor([w, h])
    weights = torch.ones(2, lq, 4, 1, 1)
    expected = attn.output_proj(ms_deform_attn_sample(value, shapes, locations, weights))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    (g1,) = torch.autograd.grad(out.square().sum(), src)
    (g2,) = torch.autograd.grad(expected.square().sum(), src)
    torch.testing.assert_close(g1, g2, atol=1e-4, rtol=1e-4)
