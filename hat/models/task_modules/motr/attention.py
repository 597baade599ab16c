"""Batch-first multi-head attention built from explicit Linear layers, matmuls and a softmax.

Every op that needs its own output scale when quantized is a module (``hat.nn.MulScalar``,
``hat.nn.MatMul``, ``hat.nn.MaskedSoftmax``, also without a mask: one softmax module per
attention), so ``prepare_qat`` swaps them for their QAT
counterparts and the attention runs on integer kernels once converted.
"""

from __future__ import annotations

import torch
from torch import nn

import hat.nn as hnn

__all__ = ["MultiHeadAttention", "maybe_dropout"]


def maybe_dropout(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or an identity when ``p == 0`` (nothing to quantize or trace)."""
    return nn.Dropout(p) if float(p) > 0.0 else nn.Identity()


class MultiHeadAttention(nn.Module):
    """Scaled dot-product multi-head attention (Vaswani et al. 2017), batch first.

    Args:
        d_model: channels of query, key, value and output (divisible by ``n_heads``).
        n_heads: attention heads.
        dropout: dropout on the attention weights.
        bias: whether the projections have a bias.

    ``forward(query (B, Lq, C), key (B, Lk, C), value (B, Lk, C), key_padding_mask (B, Lk)
    bool or None) -> (B, Lq, C)``. Keys where ``key_padding_mask`` is True get exactly zero
    weight. A batch element whose keys are all masked attends to nothing: its output is
    ``out_proj``'s bias (finite; MOTR only produces it at invalid track slots, which no valid
    query reads).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.scale = self.head_dim**-0.5
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.scale_q = hnn.MulScalar(self.scale)
        self.qk_matmul = hnn.MatMul()
        self.masked_softmax = hnn.MaskedSoftmax()
        self.av_matmul = hnn.MatMul()
        self.dropout = maybe_dropout(dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from ``query`` to ``key``/``value``; masked keys are ignored."""
        name = type(self).__name__
        if query.dim() != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"{name}: query must be (B, Lq, {self.d_model}), got {query.shape}")
        if key.shape != value.shape or key.shape[::2] != query.shape[::2]:
            raise ValueError(
                f"{name}: key and value must be (B={query.shape[0]}, Lk, {self.d_model}), "
                f"got {tuple(key.shape)} and {tuple(value.shape)}"
            )
        b, lq, _ = query.shape
        lk = key.shape[1]
        if key_padding_mask is not None and (
            key_padding_mask.shape != key.shape[:2] or key_padding_mask.dtype != torch.bool
        ):
            raise ValueError(
                f"{name}: key_padding_mask must be bool {tuple(key.shape[:2])}, "
                f"got {key_padding_mask.dtype} {tuple(key_padding_mask.shape)}"
            )
        q = self.scale_q(self._split_heads(self.q_proj(query)))
        k = self._split_heads(self.k_proj(key))
        v = self._split_heads(self.v_proj(value))
        scores = self.qk_matmul(q, k.transpose(-2, -1))  # (B, heads, Lq, Lk)
        if key_padding_mask is None:
            keep = torch.ones(b, 1, 1, lk, dtype=torch.bool, device=scores.device)
        else:
            keep = (~key_padding_mask).reshape(b, 1, 1, lk)
        attn = self.masked_softmax(scores, keep)
        out = self.av_matmul(self.dropout(attn), v)  # (B, heads, Lq, dh)
        return self.out_proj(out.transpose(1, 2).reshape(b, lq, self.d_model))
