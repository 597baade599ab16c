"""MOTR's deformable transformer: a deformable encoder and a decoder over detect + track queries.

The decoder works on a query set of fixed size: ``num_detect`` detect queries followed by
track-query slots, with ``query_mask`` (True = valid slot). Invalid slots are masked out of
every attention, so their content never reaches a valid query; this keeps the shapes static
for deployment while the number of live tracks varies.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

import hat.nn as hnn
from hat.models.task_modules.motr.attention import MultiHeadAttention, maybe_dropout
from hat.models.task_modules.motr.deformable_attention import MultiScaleDeformableAttention
from hat.registry import OBJECT_REGISTRY

__all__ = [
    "DeformableTransformerDecoder",
    "DeformableTransformerDecoderLayer",
    "DeformableTransformerEncoder",
    "DeformableTransformerEncoderLayer",
    "MotrDeformableTransformer",
]


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"activation must be 'relu' or 'gelu', got {name!r}")


def _clones(module: nn.Module, n: int) -> nn.ModuleList:
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class _FFN(nn.Module):
    """``norm(x + Linear(act(Linear(x))))``, the transformer's post-norm feed-forward block."""

    def __init__(self, d_model: int, d_ffn: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.activation = _activation(activation)
        self.dropout1 = maybe_dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout2 = maybe_dropout(dropout)
        self.res_add = hnn.Add()
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear2(self.dropout1(self.activation(self.linear1(x))))
        return self.norm(self.res_add(x, self.dropout2(y)))


class DeformableTransformerEncoderLayer(nn.Module):
    """Deformable self-attention over the flattened feature, then an FFN (post-norm)."""

    def __init__(
        self,
        d_model: int = 256,
        d_ffn: int = 1024,
        dropout: float = 0.0,
        activation: str = "relu",
        n_levels: int = 1,
        n_heads: int = 8,
        n_points: int = 4,
    ) -> None:
        super().__init__()
        self.self_attn = MultiScaleDeformableAttention(d_model, n_levels, n_heads, n_points)
        self.pos_add = hnn.Add()
        self.dropout1 = maybe_dropout(dropout)
        self.res_add = hnn.Add()
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = _FFN(d_model, d_ffn, dropout, activation)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor | None,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``src``, ``pos`` ``(B, S, C)``; ``reference_points`` ``(B, S, L, 2)``."""
        src2 = self.self_attn(
            self.pos_add(src, pos),
            reference_points,
            src,
            spatial_shapes,
            level_start_index,
            padding_mask,
        )
        src = self.norm1(self.res_add(src, self.dropout1(src2)))
        return self.ffn(src)


class DeformableTransformerEncoder(nn.Module):
    """A stack of encoder layers; each position attends around its own pixel centre."""

    def __init__(self, encoder_layer: DeformableTransformerEncoderLayer, num_layers: int) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers

    @staticmethod
    def get_reference_points(
        spatial_shapes: torch.Tensor, valid_ratios: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """Pixel centres of every level, normalised by the valid extent: ``(B, S, L, 2)``.

        As Deformable DETR: the centre ``(i + 0.5)`` of level ``l`` is divided by the valid
        size of that level, then multiplied by the valid ratio of each sampled level.
        """
        device = valid_ratios.device
        refs = []
        for lvl, (h, w) in enumerate(spatial_shapes.tolist()):
            ref_y, ref_x = torch.meshgrid(
                torch.linspace(0.5, h - 0.5, h, dtype=dtype, device=device),
                torch.linspace(0.5, w - 0.5, w, dtype=dtype, device=device),
                indexing="ij",
            )
            ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * h)
            ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * w)
            refs.append(torch.stack((ref_x, ref_y), -1))
        reference_points = torch.cat(refs, 1)
        return reference_points[:, :, None] * valid_ratios[:, None]

    def forward(
        self,
        src: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor | None,
        valid_ratios: torch.Tensor,
        pos: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``src``, ``pos`` ``(B, S, C)``, ``valid_ratios`` ``(B, L, 2)`` -> ``(B, S, C)``."""
        reference_points = self.get_reference_points(spatial_shapes, valid_ratios, src.dtype)
        output = src
        for layer in self.layers:
            output = layer(
                output, pos, reference_points, spatial_shapes, level_start_index, padding_mask
            )
        return output


class DeformableTransformerDecoderLayer(nn.Module):
    """MOTR's decoder layer (post-norm): track attention, self-attention, deformable
    cross-attention, FFN.

    With ``extra_track_attn`` the track part ``tgt[:, num_detect:]`` first attends to itself
    (MOTR's ``_forward_track_attn``, ``q = k = tgt + query_pos``, residual and norm); it is
    skipped when there are no track slots. Invalid slots (``query_mask`` False) are masked as
    keys in both self-attentions.
    """

    def __init__(
        self,
        d_model: int = 256,
        d_ffn: int = 1024,
        dropout: float = 0.0,
        activation: str = "relu",
        n_levels: int = 1,
        n_heads: int = 8,
        n_points: int = 4,
        extra_track_attn: bool = False,
    ) -> None:
        super().__init__()
        self.cross_attn = MultiScaleDeformableAttention(d_model, n_levels, n_heads, n_points)
        self.cross_pos_add = hnn.Add()
        self.dropout1 = maybe_dropout(dropout)
        self.cross_res_add = hnn.Add()
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.self_pos_add = hnn.Add()
        self.dropout2 = maybe_dropout(dropout)
        self.self_res_add = hnn.Add()
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = _FFN(d_model, d_ffn, dropout, activation)
        self.extra_track_attn = extra_track_attn
        if extra_track_attn:
            self.update_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
            self.track_pos_add = hnn.Add()
            self.dropout5 = maybe_dropout(dropout)
            self.track_res_add = hnn.Add()
            self.norm4 = nn.LayerNorm(d_model)
            self.track_cat = hnn.Concat(dim=1)

    def _forward_track_attn(
        self,
        tgt: torch.Tensor,
        query_pos: torch.Tensor,
        query_mask: torch.Tensor | None,
        num_detect: int,
    ) -> torch.Tensor:
        if not self.extra_track_attn or tgt.shape[1] <= num_detect:
            return tgt
        track = tgt[:, num_detect:]
        q = self.track_pos_add(track, query_pos[:, num_detect:])
        mask = None if query_mask is None else ~query_mask[:, num_detect:]
        track2 = self.update_attn(q, q, track, key_padding_mask=mask)
        track = self.norm4(self.track_res_add(track, self.dropout5(track2)))
        return self.track_cat([tgt[:, :num_detect], track])

    def forward(
        self,
        tgt: torch.Tensor,
        query_pos: torch.Tensor,
        reference_points: torch.Tensor,
        src: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor | None,
        src_padding_mask: torch.Tensor | None = None,
        query_mask: torch.Tensor | None = None,
        num_detect: int = 0,
    ) -> torch.Tensor:
        """``tgt``, ``query_pos`` ``(B, Nq, C)``; ``reference_points`` ``(B, Nq, L, 2)``;
        ``src`` ``(B, S, C)`` -> ``(B, Nq, C)``."""
        tgt = self._forward_track_attn(tgt, query_pos, query_mask, num_detect)
        q = self.self_pos_add(tgt, query_pos)
        mask = None if query_mask is None else ~query_mask
        tgt2 = self.self_attn(q, q, tgt, key_padding_mask=mask)
        tgt = self.norm2(self.self_res_add(tgt, self.dropout2(tgt2)))
        tgt2 = self.cross_attn(
            self.cross_pos_add(tgt, query_pos),
            reference_points,
            src,
            spatial_shapes,
            level_start_index,
            src_padding_mask,
        )
        tgt = self.norm1(self.cross_res_add(tgt, self.dropout1(tgt2)))
        return self.ffn(tgt)


class DeformableTransformerDecoder(nn.Module):
    """A stack of decoder layers with optional iterative reference-point refinement.

    ``forward`` returns ``(hs, reference_logits, deltas)``, lists of ``n`` entries: ``hs`` the
    ``(B, Nq, C)`` outputs of every layer (``n = num_layers``) or of the last one only
    (``n = 1``, without ``return_intermediate``); ``reference_logits`` ``(B, Nq, 2)``, the
    reference points each
    of those layers used, as logits (layer ``l`` samples around ``sigmoid(logit_l)``; the first
    one is the input, kept in the graph).

    With ``bbox_embed`` (one callable per layer, mapping ``(..., C)`` to ``(..., 4)`` box logit
    deltas) the reference of layer ``l + 1`` is ``logit_l + delta_l[..., :2]``, detached
    (``deltas[l]`` returns ``delta_l`` with its gradient, None where not computed):
    Deformable DETR's box refinement ``sigmoid(delta + inverse_sigmoid(sigmoid(logit_l)))``
    kept in logit space (equal wherever ``inverse_sigmoid``'s clamp at ``1e-5`` is inactive,
    i.e. ``|logit| < 11.5``), so the quantized model needs no inverse-sigmoid table: the
    chain is an int16 add and one int16 sigmoid table per layer.
    """

    def __init__(
        self,
        decoder_layer: DeformableTransformerDecoderLayer,
        num_layers: int,
        return_intermediate: bool = False,
    ) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.return_intermediate = return_intermediate
        self.ref_sigmoid = nn.ModuleList(nn.Sigmoid() for _ in range(num_layers))
        self.ref_dequant = nn.ModuleList(hnn.DeQuantStub() for _ in range(num_layers))
        self.ref_add = nn.ModuleList(hnn.Add() for _ in range(num_layers - 1))

    def reference_modules(self) -> list[nn.Module]:
        """The modules on the reference-logit chain (int16 activations when quantized)."""
        return [*self.ref_sigmoid, *self.ref_add]

    def forward(
        self,
        tgt: torch.Tensor,
        reference_points: torch.Tensor,
        src: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor | None,
        valid_ratios: torch.Tensor,
        query_pos: torch.Tensor,
        src_padding_mask: torch.Tensor | None = None,
        query_mask: torch.Tensor | None = None,
        num_detect: int = 0,
        bbox_embed: Sequence[nn.Module] | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor | None]]:
        """Decode ``tgt`` ``(B, Nq, C)`` around the reference points whose logits are
        ``reference_points`` ``(B, Nq, 2)``."""
        if reference_points.dim() != 3 or reference_points.shape[-1] != 2:
            raise ValueError(
                f"reference_points must be (B, Nq, 2) logits, got {tuple(reference_points.shape)}"
            )
        if bbox_embed is not None and len(bbox_embed) != self.num_layers:
            raise ValueError(
                f"bbox_embed has {len(bbox_embed)} modules, the decoder {self.num_layers} layers"
            )
        output = tgt
        logits = reference_points
        outputs, references = [], []
        deltas: list[torch.Tensor | None] = [None] * self.num_layers
        for lid, layer in enumerate(self.layers):
            ref = self.ref_dequant[lid](self.ref_sigmoid[lid](logits))
            reference_input = ref[:, :, None] * valid_ratios[:, None]
            output = layer(
                output,
                query_pos,
                reference_input,
                src,
                spatial_shapes,
                level_start_index,
                src_padding_mask,
                query_mask,
                num_detect,
            )
            outputs.append(output)
            references.append(logits)
            if bbox_embed is not None and lid < self.num_layers - 1:
                deltas[lid] = bbox_embed[lid](output)
                logits = self.ref_add[lid](deltas[lid][..., :2], logits).detach()
        if not self.return_intermediate:
            return outputs[-1:], references[-1:], deltas[-1:]
        return outputs, references, deltas


@OBJECT_REGISTRY.register
class MotrDeformableTransformer(nn.Module):
    """MOTR's deformable transformer (Zeng et al. 2022) over a static-shape query set.

    Args:
        d_model: channels of features and queries.
        nhead: attention heads (deformable and dot-product).
        num_encoder_layers: encoder depth.
        num_decoder_layers: decoder depth.
        dim_feedforward: hidden channels of the FFNs.
        dropout: dropout in every block.
        activation: FFN activation, ``"relu"`` or ``"gelu"``.
        return_intermediate_dec: return the output of every decoder layer, not only the last.
        num_feature_levels: feature levels of the memory.
        dec_n_points: sampled points per head and level in the decoder.
        enc_n_points: sampled points per head and level in the encoder.
        extra_track_attn: the extra self-attention over the track slots in every decoder layer.

    ``forward(srcs, masks, pos_embeds, query_pos, ref_pts, query_mask, num_detect, bbox_embed)
    -> (hs, reference_logits, deltas)``, see :meth:`forward`. The input projection, the
    positional and level embeddings, the learned queries and the prediction heads belong to the
    head.
    """

    def __init__(
        self,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 1024,
        dropout: float = 0.0,
        activation: str = "relu",
        return_intermediate_dec: bool = True,
        num_feature_levels: int = 1,
        dec_n_points: int = 1,
        enc_n_points: int = 1,
        extra_track_attn: bool = True,
    ) -> None:
        super().__init__()
        if num_decoder_layers < 1:
            raise ValueError(f"num_decoder_layers must be >= 1, got {num_decoder_layers}")
        self.d_model = d_model
        self.nhead = nhead
        self.num_feature_levels = num_feature_levels
        self.num_decoder_layers = num_decoder_layers
        self.return_intermediate_dec = return_intermediate_dec
        self.extra_track_attn = extra_track_attn
        encoder_layer = DeformableTransformerEncoderLayer(
            d_model, dim_feedforward, dropout, activation, num_feature_levels, nhead, enc_n_points
        )
        self.encoder = DeformableTransformerEncoder(encoder_layer, num_encoder_layers)
        decoder_layer = DeformableTransformerDecoderLayer(
            d_model,
            dim_feedforward,
            dropout,
            activation,
            num_feature_levels,
            nhead,
            dec_n_points,
            extra_track_attn,
        )
        self.decoder = DeformableTransformerDecoder(
            decoder_layer, num_decoder_layers, return_intermediate_dec
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier on every matrix, then Deformable DETR's init of the deformable attentions."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.reset_parameters()

    @staticmethod
    def get_valid_ratio(mask: torch.Tensor) -> torch.Tensor:
        """``(B, 2)`` valid ``(width, height)`` fraction of a ``(B, H, W)`` padding mask."""
        _, h, w = mask.shape
        valid_h = (~mask[:, :, 0]).sum(1)
        valid_w = (~mask[:, 0, :]).sum(1)
        return torch.stack([valid_w.float() / w, valid_h.float() / h], -1)

    def forward(
        self,
        srcs: Sequence[torch.Tensor],
        masks: Sequence[torch.Tensor] | None,
        pos_embeds: Sequence[torch.Tensor],
        query_pos: torch.Tensor,
        ref_pts: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        num_detect: int | None = None,
        bbox_embed: Sequence[nn.Module] | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor | None]]:
        """Encode the features, decode the queries.

        Args:
            srcs: ``num_feature_levels`` features ``(B, d_model, H_l, W_l)``.
            masks: their padding masks ``(B, H_l, W_l)`` (True = padding), or None (no padding).
            pos_embeds: positional embeddings ``(B, d_model, H_l, W_l)``, level embedding added.
            query_pos: ``(B, Nq, 2 * d_model)``, ``[..., :d]`` positional, ``[..., d:]`` content.
            ref_pts: ``(B, Nq, 2)`` reference points as logits.
            query_mask: ``(B, Nq)`` bool, True at valid slots; None means all valid.
            num_detect: the first ``num_detect`` queries are detect queries, the rest track
                slots; None means all are detect queries.
            bbox_embed: per-decoder-layer box delta heads for iterative refinement, or None.

        Returns:
            lists of ``n`` entries: ``hs`` ``(B, Nq, d_model)``, the reference logits
            ``(B, Nq, 2)`` and the box deltas computed for the refinement ``(B, Nq, 4)`` (None
            for the last layer and without refinement) per decoder layer (lists: quantized,
            each layer has its own scale) (``n = num_decoder_layers``, or 1 without
            ``return_intermediate_dec``); see :class:`DeformableTransformerDecoder`.
        """
        d = self.d_model
        if len(srcs) != self.num_feature_levels or len(pos_embeds) != len(srcs):
            raise ValueError(
                f"expected {self.num_feature_levels} feature levels and as many pos_embeds, "
                f"got {len(srcs)} and {len(pos_embeds)}"
            )
        if masks is not None and len(masks) != len(srcs):
            raise ValueError(f"got {len(masks)} masks for {len(srcs)} feature levels")
        b = srcs[0].shape[0]
        if query_pos.dim() != 3 or query_pos.shape[0] != b or query_pos.shape[-1] != 2 * d:
            raise ValueError(
                f"query_pos must be (B={b}, Nq, {2 * d}), got {tuple(query_pos.shape)}"
            )
        nq = query_pos.shape[1]
        if ref_pts.shape != (b, nq, 2):
            raise ValueError(f"ref_pts must be ({b}, {nq}, 2), got {tuple(ref_pts.shape)}")
        if query_mask is not None and (
            query_mask.shape != (b, nq) or query_mask.dtype != torch.bool
        ):
            raise ValueError(
                f"query_mask must be bool ({b}, {nq}), "
                f"got {query_mask.dtype} {tuple(query_mask.shape)}"
            )
        num_detect = nq if num_detect is None else int(num_detect)
        if not 0 <= num_detect <= nq:
            raise ValueError(f"num_detect must be in [0, {nq}], got {num_detect}")

        src_flatten, mask_flatten, pos_flatten, shapes, level_masks = [], [], [], [], []
        for lvl, (src, pos) in enumerate(zip(srcs, pos_embeds)):
            if src.dim() != 4 or src.shape[:2] != (b, d) or pos.shape != src.shape:
                raise ValueError(
                    f"level {lvl}: src must be (B={b}, {d}, H, W) and pos_embed the same shape, "
                    f"got {tuple(src.shape)} and {tuple(pos.shape)}"
                )
            h, w = src.shape[-2:]
            if masks is None:
                mask = torch.zeros(b, h, w, dtype=torch.bool, device=src.device)
            else:
                mask = masks[lvl]
                if mask.shape != (b, h, w) or mask.dtype != torch.bool:
                    raise ValueError(
                        f"level {lvl}: mask must be bool ({b}, {h}, {w}), "
                        f"got {mask.dtype} {tuple(mask.shape)}"
                    )
            shapes.append((h, w))
            level_masks.append(mask)
            src_flatten.append(src.flatten(2).transpose(1, 2))
            pos_flatten.append(pos.flatten(2).transpose(1, 2))
            mask_flatten.append(mask.flatten(1))
        device = srcs[0].device
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=device)
        sizes = spatial_shapes.prod(1)
        level_start_index = torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]])
        src_flatten = torch.cat(src_flatten, 1)
        pos_flatten = torch.cat(pos_flatten, 1)
        padding_mask = torch.cat(mask_flatten, 1) if masks is not None else None
        valid_ratios = torch.stack([self.get_valid_ratio(m) for m in level_masks], 1)
        valid_ratios = valid_ratios.to(src_flatten.dtype)

        memory = self.encoder(
            src_flatten, spatial_shapes, level_start_index, valid_ratios, pos_flatten, padding_mask
        )
        pos, tgt = query_pos[..., :d], query_pos[..., d:]
        return self.decoder(
            tgt,
            ref_pts,
            memory,
            spatial_shapes,
            level_start_index,
            valid_ratios,
            pos,
            padding_mask,
            query_mask,
            num_detect,
            bbox_embed,
        )
