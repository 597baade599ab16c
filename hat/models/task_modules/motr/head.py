"""``MotrHead``: MOTR's detection/tracking head on one backbone feature level."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

import hat.nn as hnn
from hat.models.task_modules.motr.deformable_attention import MultiScaleDeformableAttention
from hat.models.task_modules.motr.deformable_transformer import MotrDeformableTransformer
from hat.models.task_modules.motr.position_encoding import PositionEmbeddingSine
from hat.registry import OBJECT_REGISTRY, build_from_registry

__all__ = ["MLP", "MotrHead"]


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (DETR's box head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        outs = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, outs))
        # one ReLU per call site (quantized, each call is its own module)
        self.activations = nn.ModuleList(nn.ReLU() for _ in range(num_layers - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.activations[i](x)
        return x


@OBJECT_REGISTRY.register
class MotrHead(nn.Module):
    """MOTR head (Zeng et al. 2022) with HAT's single feature level.

    Args:
        transformer: a :class:`MotrDeformableTransformer` or its config dict.
        num_classes: object classes (sigmoid logits, no background class).
        in_channels: channels of the backbone feature.
        num_queries: learned detect queries.
        aux_loss: also return the predictions of the earlier decoder layers.
        with_box_refine: iterative box refinement (one box and class head per decoder layer);
            without it the heads are shared and every layer predicts around the initial points.

    Queries are given to :meth:`forward` as a static-shape set: ``num_detect`` detect queries
    (usually from :meth:`init_queries`) followed by track slots, ``query_mask`` True at valid
    slots. ``forward`` returns ``pred_logits (B, Nq, num_classes)``, ``pred_boxes (B, Nq, 4)``
    (normalised ``cx, cy, w, h``) and ``hs (B, Nq, d)`` of the last decoder layer, and with
    ``aux_loss`` ``aux_outputs``: ``[{pred_logits, pred_boxes}]`` of the earlier layers.
    Outputs at invalid slots are finite and meaningless.
    """

    def __init__(
        self,
        transformer: MotrDeformableTransformer | Mapping[str, Any],
        num_classes: int = 1,
        in_channels: int = 384,
        num_queries: int = 256,
        aux_loss: bool = True,
        with_box_refine: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(transformer, Mapping):
            transformer = build_from_registry(dict(transformer))
        if not isinstance(transformer, MotrDeformableTransformer):
            raise TypeError(
                f"MotrHead: transformer must be a MotrDeformableTransformer or its config, "
                f"got {type(transformer).__name__}"
            )
        if transformer.num_feature_levels != 1:
            raise ValueError(
                "MotrHead uses one feature level; the transformer has "
                f"num_feature_levels={transformer.num_feature_levels}"
            )
        d = transformer.d_model
        if d % 32 != 0:
            raise ValueError(f"MotrHead: d_model must be a multiple of 32, got {d}")
        self.transformer = transformer
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_queries = num_queries
        self.hidden_dim = d
        self.aux_loss = aux_loss
        self.with_box_refine = with_box_refine

        self.input_proj = nn.Sequential(
            nn.Conv2d(in_channels, d, kernel_size=1), nn.GroupNorm(32, d)
        )
        self.position_encoding = PositionEmbeddingSine(d // 2, normalize=True)
        self.level_embed = nn.Parameter(torch.empty(1, d))
        # quantization boundaries: the positional embedding (a constant of the deployed graph),
        # the queries and their reference logits (int16, like the whole reference/box chain)
        self.pos_quant = hnn.QuantStub()
        self.query_quant = hnn.QuantStub()
        self.ref_quant = hnn.QuantStub()
        self.query_embed = nn.Embedding(num_queries, 2 * d)
        self.reference_points = nn.Linear(d, 2)

        class_embed = nn.Linear(d, num_classes)
        bbox_embed = MLP(d, d, 4, 3)
        num_pred = transformer.num_decoder_layers
        if with_box_refine:
            self.class_embed = nn.ModuleList(copy.deepcopy(class_embed) for _ in range(num_pred))
            self.bbox_embed = nn.ModuleList(copy.deepcopy(bbox_embed) for _ in range(num_pred))
        else:
            self.class_embed = nn.ModuleList([class_embed] * num_pred)
            self.bbox_embed = nn.ModuleList([bbox_embed] * num_pred)
        # per layer: box deltas -> int16, centre logits = delta + reference logits, sigmoid
        self.delta_quant = nn.ModuleList(hnn.QuantStub() for _ in range(num_pred))
        self.box_xy_add = nn.ModuleList(hnn.Add() for _ in range(num_pred))
        self.box_cat = nn.ModuleList(hnn.Concat(dim=-1) for _ in range(num_pred))
        self.box_sigmoid = nn.ModuleList(nn.Sigmoid() for _ in range(num_pred))
        self.box_dequant = nn.ModuleList(hnn.DeQuantStub() for _ in range(num_pred))
        self.hs_dequant = hnn.DeQuantStub()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's init: xavier projections, prior-0.01 class bias, zero box deltas
        with a ``sigmoid(-2)`` initial width and height."""
        nn.init.xavier_uniform_(self.input_proj[0].weight, gain=1)
        nn.init.constant_(self.input_proj[0].bias, 0)
        nn.init.normal_(self.level_embed)
        nn.init.xavier_uniform_(self.reference_points.weight, gain=1.0)
        nn.init.constant_(self.reference_points.bias, 0.0)
        bias_value = -math.log((1 - 0.01) / 0.01)
        for class_embed in self.class_embed:
            nn.init.constant_(class_embed.bias, bias_value)
        for bbox_embed in self.bbox_embed:
            last = bbox_embed.layers[-1]
            nn.init.constant_(last.weight, 0.0)
            nn.init.constant_(last.bias, 0.0)
            nn.init.constant_(last.bias[2:], -2.0)

    def set_qconfig(self) -> None:
        """On top of the model's qconfig: the reference-logit and box chain in int16 (the
        reference inputs, each layer's box deltas, centre adds, concatenations and sigmoid
        tables: one 8-bit step of a logit would move a box by ~1/100 of the image), the class
        and box-delta Linear layers with high-precision (float, exact accumulator) outputs, and
        the learned detect queries' reference Linear float (it runs on parameters, outside
        the deployed graph)."""
        from hat.quantization import get_default_qconfig

        base = getattr(self, "qconfig", None) or get_default_qconfig()
        int16 = base.replace(activation=base.activation.replace(dtype="int16", symmetric=True))
        hp = base.replace(high_precision_output=True)
        chain = [self.ref_quant, *self.transformer.decoder.reference_modules()]
        chain += [*self.delta_quant, *self.box_xy_add, *self.box_cat, *self.box_sigmoid]
        for m in chain:
            m.qconfig = int16
        for lvl in range(len(self.bbox_embed)):
            self.bbox_embed[lvl].layers[-1].qconfig = hp
            self.class_embed[lvl].qconfig = hp
        self.reference_points.qconfig = None
        for m in self.transformer.modules():
            if isinstance(m, MultiScaleDeformableAttention) and m.single_point:
                m.attention_weights.qconfig = None  # a softmax over one weight: unused

    def init_queries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned detect queries: ``query_pos (num_queries, 2d)`` and their reference
        points as logits ``(num_queries, 2)``, from the positional half of ``query_pos``."""
        query_pos = self.query_embed.weight
        return query_pos, self.reference_points(query_pos[:, : self.hidden_dim])

    def forward(
        self,
        feat: torch.Tensor,
        query_pos: torch.Tensor,
        ref_pts: torch.Tensor,
        query_mask: torch.Tensor,
        num_detect: int,
    ) -> dict[str, Any]:
        """Predict classes and boxes for every query slot from ``feat (B, C, H, W)``.

        ``query_pos (B, Nq, 2d)``, ``ref_pts (B, Nq, 2)`` logits, ``query_mask (B, Nq)`` bool
        (True = valid slot), the first ``num_detect`` queries being detect queries.
        """
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise ValueError(
                f"MotrHead: feat must be (B, {self.in_channels}, H, W), got {tuple(feat.shape)}"
            )
        src = self.input_proj(feat)
        b, _, h, w = src.shape
        mask = torch.zeros(b, h, w, dtype=torch.bool, device=src.device)
        pos = self.position_encoding(mask) + self.level_embed.view(1, -1, 1, 1)
        pos = self.pos_quant(pos.to(self.level_embed.dtype))
        hs, references, deltas = self.transformer(
            [src],
            None,
            [pos],
            self.query_quant(query_pos),
            self.ref_quant(ref_pts),
            query_mask=query_mask,
            num_detect=num_detect,
            bbox_embed=self._box_deltas() if self.with_box_refine else None,
        )
        first = self.transformer.num_decoder_layers - len(hs)
        # every layer predicts, in evaluation too (so calibration observes every head; the
        # deployed graph drops what no output uses)
        preds = [self._predict(first + i, hs[i], references[i], deltas[i]) for i in range(len(hs))]
        out: dict[str, Any] = dict(preds[-1])
        out["hs"] = self.hs_dequant(hs[-1])
        if self.aux_loss:
            out["aux_outputs"] = preds[:-1]
        return out

    def _box_deltas(self) -> list:
        """Per layer, ``hs -> int16 box deltas`` (quantized); computed once per layer and
        shared by the refinement and the prediction."""
        return [
            lambda x, lvl=lvl: self.delta_quant[lvl](self.bbox_embed[lvl](x))
            for lvl in range(len(self.bbox_embed))
        ]

    def _predict(
        self,
        lvl: int,
        hs: torch.Tensor,
        reference_logits: torch.Tensor,
        delta: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Class logits and ``sigmoid(cx, cy, w, h)`` boxes of decoder layer ``lvl``: the box
        centre logits are the deltas (``delta`` if the decoder computed them) plus the layer's
        reference logits."""
        if delta is None:
            delta = self.delta_quant[lvl](self.bbox_embed[lvl](hs))
        xy = self.box_xy_add[lvl](delta[..., :2], reference_logits)
        boxes = self.box_sigmoid[lvl](self.box_cat[lvl]([xy, delta[..., 2:]]))
        return {
            "pred_logits": self.class_embed[lvl](hs),
            "pred_boxes": self.box_dequant[lvl](boxes),
        }
