"""Local correlation (cost volume) between two feature maps, as in PWC-Net."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Correlation", "correlation", "correlation_reference"]


def _displacements(max_displacement: int) -> list[tuple[int, int]]:
    """``(dy, dx)`` offsets into the padded map, row-major: output channel ``dy * k + dx``."""
    k = 2 * max_displacement + 1
    return [(dy, dx) for dy in range(k) for dx in range(k)]


def _check_inputs(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int) -> None:
    if f1.dim() != 4 or f1.shape != f2.shape:
        raise ValueError(
            f"Correlation expects two (B, C, H, W) tensors of the same shape, "
            f"got {tuple(f1.shape)} and {tuple(f2.shape)}"
        )
    if max_displacement < 0:
        raise ValueError(f"max_displacement must be >= 0, got {max_displacement}")


class _Tiling:
    """Geometry of the banded-matmul formulation.

    Rows of ``f1`` are cut into tiles of ``t`` pixels; tile ``i`` of a row only meets the
    ``t + 2md`` pixels ``[i*t, i*t + t + 2md)`` of the padded ``f2`` row, so for one vertical
    offset ``dy`` a ``(t, C) @ (C, t + 2md)`` matmul per tile gives every product the
    ``k = 2md+1`` horizontal offsets need: they are the ``k`` diagonals of that ``t x (t + 2md)``
    block (a strided view). ``t >= 2md`` makes the tiles' ``2md``-wide overlaps disjoint,
    which the backward's scatter-add relies on.
    """

    def __init__(self, shape: torch.Size, md: int) -> None:
        self.b, self.c, self.h, self.w = shape
        self.md, self.k = md, 2 * md + 1
        self.t = max(8, 2 * md)
        self.nt = -(-self.w // self.t)
        self.wt = self.nt * self.t  # tiled width (>= w)
        self.tw = self.t + 2 * md  # width of an f2 tile
        self.n = self.b * self.h * self.nt  # number of tiles

    def band(self, m: torch.Tensor) -> torch.Tensor:
        """The ``k`` diagonals ``m[:, i, i + dx]`` of ``(n, t, tw)`` blocks -> ``(n, t, k)``."""
        return m.as_strided((self.n, self.t, self.k), (self.t * self.tw, self.tw + 1, 1))

    def f1_tiles(self, f1: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(n, t, C)`` (channels last, width zero-padded to ``wt``)."""
        a = f1.permute(0, 2, 3, 1)
        if self.wt != self.w:
            a = F.pad(a, [0, 0, 0, self.wt - self.w])
        return a.contiguous().view(self.n, self.t, self.c)

    def pad_f2(self, f2: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> zero-padded channels-last ``(B, H + 2md, wt + 2md, C)``."""
        md = self.md
        return F.pad(f2, [md, md + self.wt - self.w, md, md]).permute(0, 2, 3, 1).contiguous()

    def f2_tiles(self, f2p: torch.Tensor, dy: int) -> torch.Tensor:
        """Overlapping tiles of rows ``dy .. dy + H`` of ``f2p`` -> ``(n, tw, C)`` (a copy)."""
        rows = f2p[:, dy : dy + self.h].unfold(2, self.tw, self.t)  # (B, H, nt, C, tw)
        return rows.transpose(3, 4).reshape(self.n, self.tw, self.c)


def _forward(f1: torch.Tensor, f2: torch.Tensor, md: int):
    """Cost volume plus the tensors the backward needs (``f1`` tiles and padded ``f2``)."""
    g = _Tiling(f1.shape, md)
    a = g.f1_tiles(f1)
    f2p = g.pad_f2(f2)
    out = f1.new_empty(g.b, g.h, g.nt, g.t, g.k, g.k)
    for dy in range(g.k):
        m = torch.bmm(a, g.f2_tiles(f2p, dy).transpose(1, 2))  # (n, t, tw)
        out[..., dy, :] = g.band(m).view(g.b, g.h, g.nt, g.t, g.k)
    out = out.view(g.b, g.h, g.wt, g.k * g.k)[:, :, : g.w].permute(0, 3, 1, 2)
    return out.mul(1.0 / g.c).contiguous(), a, f2p


class _CorrelationFunction(torch.autograd.Function):
    """Banded-matmul correlation with a hand-written backward (3 big ops per vertical offset
    instead of 2 small ones per displacement; robust when the cores are shared)."""

    @staticmethod
    def forward(ctx, f1: torch.Tensor, f2: torch.Tensor, max_displacement: int) -> torch.Tensor:
        out, a, f2p = _forward(f1, f2, max_displacement)
        ctx.save_for_backward(a, f2p)
        ctx.md = max_displacement
        ctx.shape = f1.shape
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, f2p = ctx.saved_tensors
        g = _Tiling(ctx.shape, ctx.md)
        need1, need2 = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gl = grad.permute(0, 2, 3, 1) * (1.0 / g.c)  # (B, H, W, k*k)
        if g.wt != g.w:
            gl = F.pad(gl, [0, 0, 0, g.wt - g.w])
        gl = gl.reshape(g.b, g.h, g.nt, g.t, g.k, g.k)
        ga = torch.zeros_like(a) if need1 else None
        # padded f2 gradient, one tile wider so every tile's overlap lands inside
        g2p = f2p.new_zeros(g.b, g.h + 2 * g.md, (g.nt + 1) * g.t, g.c) if need2 else None
        gm = a.new_zeros(g.n, g.t, g.tw)
        for dy in range(g.k):
            g.band(gm).copy_(gl[..., dy, :].reshape(g.n, g.t, g.k))
            if need1:
                ga.baddbmm_(gm, g.f2_tiles(f2p, dy))
            if need2:
                gt = torch.bmm(gm.transpose(1, 2), a)  # (n, tw, C)
                rows = g2p[:, dy : dy + g.h].view(g.b, g.h, g.nt + 1, g.t, g.c)
                rows[:, :, : g.nt] += gt[:, : g.t].view(g.b, g.h, g.nt, g.t, g.c)
                rows[:, :, 1:, : 2 * g.md] += gt[:, g.t :].view(g.b, g.h, g.nt, 2 * g.md, g.c)
        g1 = g2 = None
        if need1:
            g1 = ga.view(g.b, g.h, g.wt, g.c)[:, :, : g.w].permute(0, 3, 1, 2).contiguous()
        if need2:
            md = g.md
            g2 = g2p[:, md : md + g.h, md : md + g.w].permute(0, 3, 1, 2).contiguous()
        return g1, g2, None


def correlation(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Functional form of :class:`Correlation`."""
    _check_inputs(f1, f2, max_displacement)
    if torch.is_grad_enabled() and (f1.requires_grad or f2.requires_grad):
        return _CorrelationFunction.apply(f1, f2, max_displacement)
    return _forward(f1, f2, max_displacement)[0]


def correlation_reference(
    f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4
) -> torch.Tensor:
    """The textbook implementation (plain autograd over padded slices); used by tests/benchmarks."""
    _check_inputs(f1, f2, max_displacement)
    md = max_displacement
    _, _, h, w = f1.shape
    f2p = F.pad(f2, [md, md, md, md])
    outs = [
        (f1 * f2p[:, :, dy : dy + h, dx : dx + w]).mean(dim=1, keepdim=True)
        for dy, dx in _displacements(md)
    ]
    return torch.cat(outs, dim=1)


class Correlation(nn.Module):
    """PWC-Net cost volume: ``(B, C, H, W) x 2 -> (B, (2md+1)^2, H, W)``.

    ``out[:, dy * k + dx, y, x] = mean_c f1[:, c, y, x] * f2[:, c, y + dy - md, x + dx - md]``
    with ``k = 2 * md + 1`` and zeros outside ``f2`` (output channel ``(md, md)`` is zero motion;
    channels run over vertical displacement first, then horizontal).

    Decomposition (for a quantized version): for each of the ``k^2`` displacements,
    ``shift(f2)`` = zero-pad by ``md`` and crop (no arithmetic, keeps ``f2``'s scale), then an
    element-wise ``Mul(f1, shift(f2))`` (int8 x int8 -> int32), a channel ``Sum`` (int32
    accumulate) and a ``MulScalar(1 / C)`` folded into the output requantisation
    (``scale_out = s1 * s2 / C``), then a channel ``Concat`` of the ``k^2`` maps. Nothing else.

    The float implementation computes the same sums as banded matrix products (see
    :class:`_Tiling`): per vertical offset, one tile copy, one batched matmul over channels and
    one strided read of the ``k`` diagonals, i.e. ``3k`` large ops instead of ``2k^2`` small
    ones (which stall when other processes share the cores), with a hand-written backward
    of the same shape. Gradients flow to both inputs. ``benchmarks/bench_correlation.py``
    times it against the textbook version (:func:`correlation_reference`).
    """

    def __init__(self, max_displacement: int = 4, gain: float = 1.0) -> None:
        super().__init__()
        if max_displacement < 0:
            raise ValueError(f"max_displacement must be >= 0, got {max_displacement}")
        if gain <= 0:
            raise ValueError(f"gain must be > 0, got {gain}")
        self.max_displacement = int(max_displacement)
        self.gain = float(gain)

    @property
    def out_channels(self) -> int:
        return (2 * self.max_displacement + 1) ** 2

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        out = correlation(f1, f2, self.max_displacement)
        return out if self.gain == 1.0 else out * self.gain

    def extra_repr(self) -> str:
        gain = f", gain={self.gain:g}" if self.gain != 1.0 else ""
        return f"max_displacement={self.max_displacement}{gain}"
