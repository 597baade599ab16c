"""Stereo cost volumes over horizontal disparities, laid out with disparity in the channels.

Left pixel ``x`` is compared with right pixel ``x - d`` for ``d = 0 .. max_disp - 1`` (rectified
pair, positive disparity); pixels with ``x < d`` have no partner and read zero.

* :class:`CostVolume`: group-wise correlation (GwcNet). The ``C`` channels are cut into
  ``groups`` groups of ``C / groups``; ``out[:, g * D + d, y, x] = mean_{c in g}
  left[:, c, y, x] * right[:, c, y, x - d]``. Arithmetic, so it has its own output scale when
  quantized (QAT and integer modules in :mod:`hat.quantization`).
* :class:`ConcatVolume`: the left and shifted right features stacked per disparity,
  ``out[:, (c * D + d)]`` = ``cat(left, right shifted by d)[:, c]`` zeroed where ``x < d``. Pure
  data movement (slice, zero pad, cat, stack, reshape), so it runs unchanged on quantized
  tensors and keeps their qparams (left and right must share them: compute both features with
  one module on the batch-stacked pair).

Disparity is a channel dimension so that the aggregation is done by 2D convolutions, which
quantize to integer kernels on every target (3D convolutions have no integer kernel on ONNX
Runtime's CPU provider).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CostVolume", "ConcatVolume", "gwc_volume", "gwc_volume_reference", "concat_volume"]


def _check(left: torch.Tensor, right: torch.Tensor, max_disp: int, groups: int = 1) -> None:
    if left.dim() != 4 or left.shape != right.shape:
        raise ValueError(
            "cost volume expects left and right (B, C, H, W) features of the same shape, got "
            f"{tuple(left.shape)} and {tuple(right.shape)}"
        )
    if max_disp < 1:
        raise ValueError(f"max_disp must be >= 1, got {max_disp}")
    if groups < 1 or left.shape[1] % groups:
        raise ValueError(f"{left.shape[1]} channels cannot be cut into {groups} groups")


class _GwcFunction(torch.autograd.Function):
    """Forward: per disparity one slice multiply into a reused buffer and one group sum written
    straight into the preallocated volume.
    Backward: two in-place ``addcmul_`` per disparity, broadcasting the group gradient over the
    group's channels (no product tensor is kept for the backward)."""

    @staticmethod
    def forward(ctx, left, right, max_disp: int, groups: int):  # noqa: D102
        b, c, h, w = left.shape
        cg = c // groups
        out = left.new_zeros(b, groups, max_disp, h, w)
        buf = torch.empty_like(left)  # one product buffer for all disparities
        for d in range(min(max_disp, w)):
            prod = buf[..., : w - d]
            torch.mul(left[..., d:], right[..., : w - d], out=prod)
            torch.sum(prod.reshape(b, groups, cg, h, w - d), 2, out=out[:, :, d, :, d:])
        out.mul_(1.0 / cg)
        ctx.save_for_backward(left, right)
        ctx.max_disp, ctx.groups = max_disp, groups
        return out.view(b, groups * max_disp, h, w)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        left, right = ctx.saved_tensors
        b, c, h, w = left.shape
        groups, max_disp = ctx.groups, ctx.max_disp
        cg = c // groups
        g = grad.reshape(b, groups, max_disp, h, w).mul(1.0 / cg)
        need_l, need_r = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gl = torch.zeros_like(left).view(b, groups, cg, h, w) if need_l else None
        gr = torch.zeros_like(right).view(b, groups, cg, h, w) if need_r else None
        lv = left.reshape(b, groups, cg, h, w)
        rv = right.reshape(b, groups, cg, h, w)
        for d in range(min(max_disp, w)):
            gd = g[:, :, d : d + 1, :, d:]  # (B, G, 1, H, W - d), broadcast over the group
            if need_l:
                gl[..., d:].addcmul_(gd, rv[..., : w - d])
            if need_r:
                gr[..., : w - d].addcmul_(gd, lv[..., d:])
        return (
            gl.view(b, c, h, w) if need_l else None,
            gr.view(b, c, h, w) if need_r else None,
            None,
            None,
        )


def gwc_volume(left: torch.Tensor, right: torch.Tensor, max_disp: int, groups: int) -> torch.Tensor:
    """Functional form of :class:`CostVolume`: ``(B, C, H, W) x 2 -> (B, groups*max_disp, H,
    W)``."""
    _check(left, right, max_disp, groups)
    if torch.is_grad_enabled() and (left.requires_grad or right.requires_grad):
        return _GwcFunction.apply(left, right, int(max_disp), int(groups))
    # no gradient needed: the textbook loop (what ONNX exporters trace as slices and scatters)
    return gwc_volume_reference(left, right, int(max_disp), int(groups))


def gwc_volume_reference(
    left: torch.Tensor, right: torch.Tensor, max_disp: int, groups: int
) -> torch.Tensor:
    """GwcNet's textbook loop with plain autograd (tests and benchmarks compare against it)."""
    _check(left, right, max_disp, groups)
    b, c, h, w = left.shape
    cg = c // groups
    vol = left.new_zeros(b, groups, max_disp, h, w)
    for d in range(min(max_disp, w)):
        prod = left[..., d:] * right[..., : w - d]
        vol[:, :, d, :, d:] = prod.reshape(b, groups, cg, h, w - d).mean(2)
    return vol.reshape(b, groups * max_disp, h, w)


def concat_volume(left: torch.Tensor, right: torch.Tensor, max_disp: int) -> torch.Tensor:
    """Functional form of :class:`ConcatVolume`: ``(B, C, H, W) x 2 -> (B, 2C*max_disp, H, W)``.

    Written with quantization-neutral ops only (valid on quantized tensors, recorded by the
    ONNX exporter)."""
    _check(left, right, max_disp)
    b, c, h, w = left.shape
    planes = []
    for d in range(max_disp):
        if d == 0:
            planes.append(torch.cat([left, right], 1))
        elif d < w:
            pair = torch.cat([left[..., d:], right[..., : w - d]], 1)
            planes.append(F.pad(pair, [d, 0, 0, 0]))
        else:
            planes.append(F.pad(torch.cat([left, right], 1)[..., :0], [w, 0, 0, 0]))
    return torch.stack(planes, 2).reshape(b, 2 * c * max_disp, h, w)


class CostVolume(nn.Module):
    """Group-wise correlation volume ``(B, C, H, W) x 2 -> (B, groups * max_disp, H, W)``.

    ``out[:, g * max_disp + d, y, x] = mean_{c in group g} left[:, c, y, x] * right[:, c, y,
    x - d]``, zero where ``x < d``; a group has ``C / groups`` consecutive channels.

    Decomposition (the quantized version): per disparity, a zero-padded shift of ``right`` (no
    arithmetic), an element-wise product, an integer sum over each group's channels (int32
    exact) and the ``1 / (C / groups)`` folded into the output requantization; nothing else.

    The float version is one slice product and group sum per disparity into a preallocated
    volume, with a hand-written backward (``benchmarks/bench_cost_volume.py`` times it against
    :func:`gwc_volume_reference`).
    """

    def __init__(self, max_disp: int, groups: int = 1) -> None:
        super().__init__()
        if max_disp < 1 or groups < 1:
            raise ValueError(
                f"CostVolume: max_disp and groups must be >= 1, got {max_disp}, {groups}"
            )
        self.max_disp = int(max_disp)
        self.groups = int(groups)

    @property
    def out_channels(self) -> int:
        return self.max_disp * self.groups

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return gwc_volume(left, right, self.max_disp, self.groups)

    def extra_repr(self) -> str:
        return f"max_disp={self.max_disp}, groups={self.groups}"


class ConcatVolume(nn.Module):
    """Concatenation volume ``(B, C, H, W) x 2 -> (B, 2C * max_disp, H, W)``: channel
    ``k * max_disp + d`` holds channel ``k`` of ``cat(left, right)`` for disparity ``d`` (right
    shifted by ``d``), zero where ``x < d``. Data movement only: quantized inputs keep their
    qparams (see the module doc)."""

    def __init__(self, max_disp: int) -> None:
        super().__init__()
        if max_disp < 1:
            raise ValueError(f"ConcatVolume: max_disp must be >= 1, got {max_disp}")
        self.max_disp = int(max_disp)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return concat_volume(left, right, self.max_disp)

    def extra_repr(self) -> str:
        return f"max_disp={self.max_disp}"
