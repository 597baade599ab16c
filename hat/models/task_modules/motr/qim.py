"""``QueryInteractionModule`` (QIM): MOTR's track-query update between two frames.

After a frame, the QIM picks the queries that carry on as tracks (training: matched to a GT
with IoU above a threshold, randomly dropped, plus inserted false positives; inference: every
query holding an id), updates their embeddings with a self-attention over the tracks and two
small FFNs, sets their reference points to the predicted box centres, and puts them after the
fresh detect queries of the next frame.

Two paths share the same layers and arithmetic:

* :meth:`QueryInteractionModule.forward` works on :class:`TrackInstances` of any length (the
  training and reference inference path);
* :meth:`QueryInteractionModule.update_track_embedding` works on fixed-size, padded tensors with
  a validity mask (no data-dependent shapes, for export); its valid rows equal the dynamic
  path's.

The track self-attention is :class:`~hat.models.task_modules.motr.attention.MultiHeadAttention`
(plain ``nn.Linear``, ``matmul`` and softmax, no ``nn.MultiheadAttention``, so the quantizer sees
every op); :func:`convert_motr_qim_state_dict` maps a MOTR checkpoint's QIM weights onto it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

import hat.nn as hnn
from hat.models.task_modules.motr.attention import MultiHeadAttention, maybe_dropout
from hat.models.task_modules.motr.box_ops import box_cxcywh_to_xyxy, box_iou, inverse_sigmoid
from hat.models.task_modules.motr.track_instances import TrackInstances
from hat.registry import OBJECT_REGISTRY

__all__ = ["QueryInteractionModule", "convert_motr_qim_state_dict"]


def convert_motr_qim_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A MOTR ``QueryInteractionModule`` state dict (keys relative to the module) in this
    module's layout: ``self_attn.in_proj_{weight,bias}`` split into ``q/k/v_proj``, MOTR's
    unused ``norm3`` dropped, every other key unchanged."""
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name.startswith("norm3."):
            continue
        if name.startswith("self_attn.in_proj_"):
            kind = name.rsplit("_", 1)[1]  # weight / bias
            for proj, chunk in zip(("q", "k", "v"), value.chunk(3, dim=0)):
                out[f"self_attn.{proj}_proj.{kind}"] = chunk.clone()
            continue
        out[name] = value
    return out


@OBJECT_REGISTRY.register
class QueryInteractionModule(nn.Module):
    """MOTR's query interaction module (``models/qim.py``, Zeng et al. 2022).

    Args:
        dim_in: embedding width ``d`` (``query_pos`` ``(N, 2d)``, ``output_embedding`` ``(N, d)``).
        hidden_dim: width of the three FFNs (tgt, positional, content).
        dim_out: kept for config compatibility; like MOTR (which passes ``2 * d``) it is unused.
        dropout: dropout of the attention weights and of every residual branch (global RNG).
        random_drop: training: probability of dropping each selected track.
        fp_ratio: training: probability that a track brings in a false-positive query.
        update_query_pos: also update the positional half of ``query_pos``.
        iou_keep_threshold: training: a matched track carries on only above this IoU.
        num_heads: heads of the track self-attention.
        generator: the source of the track drop and false-positive draws (a ``forward``
            argument overrides it); ``None`` uses torch's global generator.

    ``forward(track_instances, init_track_instances, generator=None)`` returns
    ``TrackInstances.cat([init_track_instances, updated active tracks])``.
    """

    def __init__(
        self,
        dim_in: int = 256,
        hidden_dim: int = 1024,
        dim_out: int = 256,
        dropout: float = 0.0,
        random_drop: float = 0.1,
        fp_ratio: float = 0.3,
        update_query_pos: bool = True,
        iou_keep_threshold: float = 0.5,
        num_heads: int = 8,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= random_drop <= 1.0 or not 0.0 <= fp_ratio <= 1.0:
            raise ValueError(
                "QueryInteractionModule: random_drop and fp_ratio must lie in [0, 1], got "
                f"{random_drop} and {fp_ratio}"
            )
        d = int(dim_in)
        self.dim = d
        self.dim_out = int(dim_out)
        self.random_drop = float(random_drop)
        self.fp_ratio = float(fp_ratio)
        self.update_query_pos = bool(update_query_pos)
        self.iou_keep_threshold = float(iou_keep_threshold)
        self.generator = generator

        # every residual add, ReLU and the final concatenation is its own module, so the
        # quantizer gives each its own output scale (the deployed QIM graph, ``MotrQim``);
        # the stubs make the update a quantized region wherever it runs (training, tracking)
        self.query_quant = hnn.QuantStub()
        self.embed_quant = hnn.QuantStub()
        self.out_dequant = hnn.DeQuantStub()
        self.pos_add = hnn.Add()
        self.self_attn = MultiHeadAttention(d, num_heads, dropout)
        self.dropout1 = maybe_dropout(dropout)
        self.res_add1 = hnn.Add()
        self.norm1 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, hidden_dim)
        self.relu1 = nn.ReLU()
        self.dropout = maybe_dropout(dropout)
        self.linear2 = nn.Linear(hidden_dim, d)
        self.dropout2 = maybe_dropout(dropout)
        self.res_add2 = hnn.Add()
        self.norm2 = nn.LayerNorm(d)
        if self.update_query_pos:
            self.linear_pos1 = nn.Linear(d, hidden_dim)
            self.relu_pos = nn.ReLU()
            self.dropout_pos1 = maybe_dropout(dropout)
            self.linear_pos2 = nn.Linear(hidden_dim, d)
            self.dropout_pos2 = maybe_dropout(dropout)
            self.res_add_pos = hnn.Add()
            self.norm_pos = nn.LayerNorm(d)
        self.linear_feat1 = nn.Linear(d, hidden_dim)
        self.relu_feat = nn.ReLU()
        self.dropout_feat1 = maybe_dropout(dropout)
        self.linear_feat2 = nn.Linear(hidden_dim, d)
        self.dropout_feat2 = maybe_dropout(dropout)
        self.res_add_feat = hnn.Add()
        self.norm_feat = nn.LayerNorm(d)
        self.out_cat = hnn.Concat(dim=-1)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # MOTR: xavier on every matrix, with the q/k/v projections drawn as one fused (3d, d)
        # in_proj matrix and zero attention biases (nn.MultiheadAttention's init).
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        attn = self.self_attn
        fused = torch.empty(3 * self.dim, self.dim)
        nn.init.xavier_uniform_(fused)
        with torch.no_grad():
            for proj, chunk in zip((attn.q_proj, attn.k_proj, attn.v_proj), fused.chunk(3)):
                proj.weight.copy_(chunk)
                nn.init.zeros_(proj.bias)
            nn.init.zeros_(attn.out_proj.bias)

    # ------------------------------------------------------------------ selection

    @staticmethod
    def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        gen_device = generator.device if generator is not None else device
        return torch.rand(n, generator=generator, device=gen_device).to(device)

    def _random_drop_tracks(
        self, tracks: TrackInstances, generator: torch.Generator | None
    ) -> TrackInstances:
        if self.random_drop > 0 and len(tracks) > 0:
            keep = self._rand(len(tracks), generator, tracks.scores.device) > self.random_drop
            tracks = tracks[keep]
        return tracks

    def _add_fp_tracks(
        self,
        track_instances: TrackInstances,
        active: TrackInstances,
        generator: torch.Generator | None,
    ) -> TrackInstances:
        inactive = track_instances[track_instances.obj_idxes < 0]
        # each active track brings in a false positive with probability fp_ratio
        chosen = self._rand(len(active), generator, active.scores.device) < self.fp_ratio
        selected = active[chosen]
        if len(inactive) == 0 or len(selected) == 0:
            return active
        if len(selected) >= len(inactive):
            fp = inactive
        else:
            ious, _ = box_iou(
                box_cxcywh_to_xyxy(inactive.pred_boxes), box_cxcywh_to_xyxy(selected.pred_boxes)
            )
            # the inactive query overlapping each selected track most, each taken once
            fp = inactive[torch.unique(ious.max(dim=0).indices)]
        return TrackInstances.cat([active, fp])

    def select_active_tracks(
        self, track_instances: TrackInstances, generator: torch.Generator | None = None
    ) -> TrackInstances:
        """The queries that carry on to the next frame (MOTR's ``_select_active_tracks``).

        Training: ``obj_idxes >= 0`` and ``iou > iou_keep_threshold``, then random drop, then
        false-positive insertion; inference: ``obj_idxes >= 0``.
        """
        if not self.training:
            return track_instances[track_instances.obj_idxes >= 0]
        generator = generator if generator is not None else self.generator
        keep = (track_instances.obj_idxes >= 0) & (track_instances.iou > self.iou_keep_threshold)
        active = self._random_drop_tracks(track_instances[keep], generator)
        if self.fp_ratio > 0:
            active = self._add_fp_tracks(track_instances, active, generator)
        return active

    # ------------------------------------------------------------------ update

    def _update_query_pos(
        self,
        query_pos: torch.Tensor,
        out_embed: torch.Tensor,
        key_padding_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """The new ``query_pos (B, N, 2d)`` of tracks (MOTR's ``_update_track_embedding``),
        from ``query_pos (B, N, 2d)`` and ``out_embed (B, N, d)``."""
        d = self.dim
        query_pos, out_embed = self.query_quant(query_pos), self.embed_quant(out_embed)
        pos, feat = query_pos[..., :d], query_pos[..., d:]
        q = k = self.pos_add(pos, out_embed)
        tgt = out_embed
        attn = self.self_attn(q, k, tgt, key_padding_mask)
        tgt = self.norm1(self.res_add1(tgt, self.dropout1(attn)))
        tgt2 = self.linear2(self.dropout(self.relu1(self.linear1(tgt))))
        tgt = self.norm2(self.res_add2(tgt, self.dropout2(tgt2)))
        if self.update_query_pos:
            pos2 = self.linear_pos2(self.dropout_pos1(self.relu_pos(self.linear_pos1(tgt))))
            pos = self.norm_pos(self.res_add_pos(pos, self.dropout_pos2(pos2)))
        feat2 = self.linear_feat2(self.dropout_feat1(self.relu_feat(self.linear_feat1(tgt))))
        feat = self.norm_feat(self.res_add_feat(feat, self.dropout_feat2(feat2)))
        return self.out_dequant(self.out_cat([pos, feat]))

    def update_tracks(self, tracks: TrackInstances) -> TrackInstances:
        """``tracks`` with updated ``query_pos`` and ``ref_pts = inverse_sigmoid(box centre)``
        (detached); every other field is shared with the input."""
        if len(tracks) == 0:
            return tracks
        out = TrackInstances(**tracks.fields())
        query_pos = self._update_query_pos(
            tracks.query_pos[None], tracks.output_embedding[None], None
        )
        out.query_pos = query_pos[0]
        out.ref_pts = inverse_sigmoid(tracks.pred_boxes[:, :2].detach())
        return out

    def update_track_embedding(
        self,
        query_pos: torch.Tensor,
        output_embedding: torch.Tensor,
        pred_boxes: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The track update on fixed-size padded slots (no data-dependent shapes), for export.

        Args:
            query_pos: ``(N, 2d)`` or ``(B, N, 2d)``.
            output_embedding: ``(N, d)`` or ``(B, N, d)``.
            pred_boxes: ``(N, 4)`` or ``(B, N, 4)``, normalised ``cx, cy, w, h``.
            mask: ``(N,)`` or ``(B, N)`` bool, the slots holding a track.

        Returns:
            ``(query_pos, ref_pts)`` of the input's shape (``ref_pts`` ``(..., N, 2)``). Valid
            rows equal :meth:`update_tracks` on the valid rows alone (padded slots are masked
            out of the attention's keys, so any finite padded values leave them unchanged);
            padded rows hold finite values of no meaning (the next frame masks them too),
            their ``ref_pts`` come from their boxes.
        """
        return (
            self.track_query_pos(query_pos, output_embedding, mask),
            inverse_sigmoid(pred_boxes[..., :2].detach()),
        )

    def track_query_pos(
        self, query_pos: torch.Tensor, output_embedding: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """The updated ``query_pos`` of fixed-size padded slots (the deployed QIM graph:
        ``(N, 2d)`` or ``(B, N, 2d)``, ``(..., N, d)``, ``mask (..., N)`` bool or 0/1)."""
        unbatched = query_pos.dim() == 2
        if unbatched:
            query_pos, output_embedding, mask = query_pos[None], output_embedding[None], mask[None]
        if mask.dtype != torch.bool:
            mask = mask > 0.5
        updated = self._update_query_pos(query_pos, output_embedding, ~mask)
        return updated[0] if unbatched else updated

    def forward(
        self,
        track_instances: TrackInstances,
        init_track_instances: TrackInstances,
        generator: torch.Generator | None = None,
    ) -> TrackInstances:
        """``cat([init_track_instances, updated active tracks of track_instances])``."""
        active = self.update_tracks(self.select_active_tracks(track_instances, generator))
        return TrackInstances.cat([init_track_instances, active])
