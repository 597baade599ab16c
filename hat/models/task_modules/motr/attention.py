"""Batch-first multi-head attention built from explicit Linear layers, matmuls and a softmax."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(nn.Module):
    """Scaled dot-product multi-head attention (Vaswani et al. 2017), batch first.

    Args:
        d_model: channels of query, key, value and output (divisible by ``n_heads``).
        n_heads: attention heads.
        dropout: dropout on the attention weights.
        bias: whether the projections have a bias.

    ``forward(query (B, Lq, C), key (B, Lk, C), value (B, Lk, C), key_padding_mask (B, Lk)
    bool or None) -> (B, Lq, C)``. Keys where ``key_padding_mask`` is True get exactly zero
    weight; a batch element whose keys are all masked gets an all-zero output.
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
        self.softmax = nn.Softmax(dim=-1)
        self.dropout = nn.Dropout(dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.n_heads, self.head_dim).transpose(1, 2)

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
        if key_padding_mask is not None and (
            key_padding_mask.shape != key.shape[:2] or key_padding_mask.dtype != torch.bool
        ):
            raise ValueError(
                f"{name}: key_padding_mask must be bool {tuple(key.shape[:2])}, "
                f"got {key_padding_mask.dtype} {tuple(key_padding_mask.shape)}"
            )
        q = self._split_heads(self.q_proj(query)) * self.scale
        k = self._split_heads(self.k_proj(key))
        v = self._split_heads(self.v_proj(value))
        scores = torch.matmul(q, k.transpose(-2, -1))  # (B, heads, Lq, Lk)
        if key_padding_mask is not None:
            masked = key_padding_mask[:, None, None, :]
            scores = scores.masked_fill(masked, torch.finfo(scores.dtype).min)
        attn = self.softmax(scores)
        if key_padding_mask is not None:
            # exact zeros at masked keys, and all-zero rows where every key is masked
            attn = attn * (~masked).to(attn.dtype)
        out = torch.matmul(self.dropout(attn), v)  # (B, heads, Lq, dh)
        out = self.out_proj(out.transpose(1, 2).reshape(b, lq, self.d_model))
        if key_padding_mask is not None:
            any_key = (~key_padding_mask).any(-1)
            out = out * any_key[:, None, None].to(out.dtype)
        return out
