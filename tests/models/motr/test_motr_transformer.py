"""MOTR's transformer and head: shapes, masking of invalid query slots, the track attention,
box refinement, gradients, and the explicit multi-head attention."""

from __future__ import annotations

import math

import pytest
import torch

from hat.models.task_modules.motr.attention import MultiHeadAttention
from hat.models.task_modules.motr.box_ops import inverse_sigmoid
from hat.models.task_modules.motr.deformable_transformer import MotrDeformableTransformer
from hat.models.task_modules.motr.head import MLP, MotrHead
from hat.models.task_modules.motr.position_encoding import PositionEmbeddingSine
from hat.registry import build_from_registry

D = 64
NUM_DETECT = 10
NUM_TRACK = 3


def _head(extra_track_attn: bool = True, seed: int = 0, **kwargs) -> MotrHead:
    torch.manual_seed(seed)
    transformer = dict(
        type="MotrDeformableTransformer",
        d_model=D,
        nhead=4,
        num_encoder_layers=2,
        num_decoder_layers=3,
        dim_feedforward=128,
        dec_n_points=2,
        enc_n_points=2,
        extra_track_attn=extra_track_attn,
    )
    head = MotrHead(transformer, num_classes=1, in_channels=384, num_queries=NUM_DETECT, **kwargs)
    # move the zero-initialised box/offset layers off their init so that every path matters
    with torch.no_grad():
        for name, p in head.named_parameters():
            if "bbox_embed" in name or "sampling_offsets.weight" in name:
                p.add_(torch.randn_like(p) * 0.05)
    return head.eval()


def _queries(
    head: MotrHead, b: int, num_track: int, seed: int = 1, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    det_pos, det_ref = head.init_queries()
    det_pos, det_ref = det_pos.to(dtype), det_ref.to(dtype)
    tracks = torch.randn(b, num_track, 2 * D, generator=g).to(dtype)
    query_pos = torch.cat([det_pos[None].expand(b, -1, -1), tracks], 1)
    track_refs = torch.randn(b, num_track, 2, generator=g).to(dtype)
    ref_pts = torch.cat([det_ref[None].expand(b, -1, -1), track_refs], 1)
    query_mask = torch.ones(b, NUM_DETECT + num_track, dtype=torch.bool)
    return query_pos, ref_pts, query_mask


def _feat(b: int = 2) -> torch.Tensor:
    return torch.randn(b, 384, 8, 12, generator=torch.Generator().manual_seed(7))


def test_head_output_shapes_from_config() -> None:
    head = _head().train()  # the auxiliary outputs are computed in training only
    query_pos, ref_pts, query_mask = _queries(head, 2, NUM_TRACK)
    query_mask[0, -1] = False
    out = head(_feat(), query_pos, ref_pts, query_mask, NUM_DETECT)
    nq = NUM_DETECT + NUM_TRACK
    assert out["pred_logits"].shape == (2, nq, 1)
    assert out["pred_boxes"].shape == (2, nq, 4)
    assert out["hs"].shape == (2, nq, D)
    assert len(out["aux_outputs"]) == head.transformer.num_decoder_layers - 1
    for aux in out["aux_outputs"]:
        assert aux["pred_logits"].shape == (2, nq, 1)
        assert aux["pred_boxes"].shape == (2, nq, 4)
    assert head.init_queries()[0].shape == (NUM_DETECT, 2 * D)
    assert head.init_queries()[1].shape == (NUM_DETECT, 2)


def test_default_config_builds_and_runs() -> None:
    torch.manual_seed(0)
    head = build_from_registry(
        dict(type="MotrHead", transformer=dict(type="MotrDeformableTransformer"), num_queries=4)
    ).train()
    assert isinstance(head.transformer, MotrDeformableTransformer)
    assert head.hidden_dim == 256 and head.transformer.num_decoder_layers == 6
    det_pos, det_ref = head.init_queries()
    with torch.no_grad():
        out = head(
            torch.randn(1, 384, 3, 4),
            det_pos[None],
            det_ref[None],
            torch.ones(1, 4, dtype=torch.bool),
            num_detect=4,
        )
    assert out["pred_boxes"].shape == (1, 4, 4) and len(out["aux_outputs"]) == 5
    # initial boxes: zero deltas on the reference point, sigmoid(-2) wide and high
    torch.testing.assert_close(out["pred_boxes"][0, :, :2], det_ref.sigmoid())
    torch.testing.assert_close(
        out["pred_boxes"][0, :, 2:], torch.full((4, 2), 1 / (1 + math.exp(2.0)))
    )
    for class_embed in head.class_embed:  # prior probability 0.01
        torch.testing.assert_close(class_embed.bias, torch.full((1,), -math.log(99.0)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_invalid_slots_do_not_influence_valid_ones(dtype: torch.dtype) -> None:
    head = _head().to(dtype).train()  # train mode: the auxiliary outputs too
    feat = _feat().to(dtype)
    query_pos, ref_pts, query_mask = _queries(head, 2, NUM_TRACK, dtype=dtype)
    atol = 1e-5 if dtype == torch.float32 else 1e-12
    query_mask[0, NUM_DETECT + 2] = False  # batch 0: two live tracks
    query_mask[1, NUM_DETECT:] = False  # batch 1: no live track
    with torch.no_grad():
        out = head(feat, query_pos, ref_pts, query_mask, NUM_DETECT)
        # garbage in the invalid slots plus four more invalid slots
        g = torch.Generator().manual_seed(3)
        qp2 = torch.cat([query_pos, torch.randn(2, 4, 2 * D, generator=g, dtype=dtype) * 10], 1)
        rp2 = torch.cat([ref_pts, torch.randn(2, 4, 2, generator=g, dtype=dtype) * 5], 1)
        qp2[~torch.cat([query_mask, torch.ones(2, 4, dtype=torch.bool)], 1)] = 7.0
        rp2[0, NUM_DETECT + 2] = -3.0
        qm2 = torch.cat([query_mask, torch.zeros(2, 4, dtype=torch.bool)], 1)
        out2 = head(feat, qp2, rp2, qm2, NUM_DETECT)
    nq = NUM_DETECT + NUM_TRACK
    valid = query_mask
    for key in ("pred_logits", "pred_boxes", "hs"):
        assert torch.isfinite(out2[key]).all()
        torch.testing.assert_close(out2[key][:, :nq][valid], out[key][valid], atol=atol, rtol=0)
    for aux, aux2 in zip(out["aux_outputs"], out2["aux_outputs"]):
        torch.testing.assert_close(
            aux2["pred_boxes"][:, :nq][valid], aux["pred_boxes"][valid], atol=atol, rtol=0
        )
    # the valid tracks do change the detect queries' outputs (the mask is not all-blocking)
    with torch.no_grad():
        query_mask[0, NUM_DETECT] = False
        out3 = head(feat, query_pos, ref_pts, query_mask, NUM_DETECT)
    assert not torch.allclose(out3["hs"][0, :NUM_DETECT], out["hs"][0, :NUM_DETECT], atol=1e-4)


def test_track_attention_is_skipped_without_tracks() -> None:
    with_attn, without = _head(extra_track_attn=True), _head(extra_track_attn=False)
    missing, unexpected = without.load_state_dict(with_attn.state_dict(), strict=False)
    assert (
        not missing and unexpected and all("update_attn" in k or "norm4" in k for k in unexpected)
    )
    feat = _feat()
    query_pos, ref_pts, query_mask = _queries(with_attn, 2, 0)
    with torch.no_grad():
        a = with_attn(feat, query_pos, ref_pts, query_mask, NUM_DETECT)
        b = without(feat, query_pos, ref_pts, query_mask, NUM_DETECT)
    torch.testing.assert_close(a["hs"], b["hs"], atol=0, rtol=0)
    # with track slots the extra attention acts
    query_pos, ref_pts, query_mask = _queries(with_attn, 2, NUM_TRACK)
    with torch.no_grad():
        a = with_attn(feat, query_pos, ref_pts, query_mask, NUM_DETECT)
        b = without(feat, query_pos, ref_pts, query_mask, NUM_DETECT)
    assert not torch.allclose(a["hs"][:, NUM_DETECT:], b["hs"][:, NUM_DETECT:], atol=1e-4)


def test_box_refinement_chains_the_reference_points() -> None:
    torch.manual_seed(0)
    transformer = MotrDeformableTransformer(
        d_model=D, nhead=4, num_encoder_layers=1, num_decoder_layers=3, dim_feedforward=64
    )
    bbox_embed = torch.nn.ModuleList(MLP(D, D, 4, 3) for _ in range(3))
    src, pos = torch.randn(2, D, 4, 5), torch.randn(2, D, 4, 5)
    query_pos, ref_pts = torch.randn(2, 6, 2 * D), torch.randn(2, 6, 2)
    with torch.no_grad():
        hs, refs, deltas = transformer(
            [src], None, [pos], query_pos, ref_pts, bbox_embed=bbox_embed
        )
    assert len(hs) == len(refs) == 3
    assert all(h.shape == (2, 6, D) for h in hs) and all(r.shape == (2, 6, 2) for r in refs)
    torch.testing.assert_close(refs[0], ref_pts, atol=0, rtol=0)  # logits
    for lvl in range(2):
        delta = bbox_embed[lvl](hs[lvl])[..., :2]
        torch.testing.assert_close(refs[lvl + 1], delta + refs[lvl], atol=0, rtol=0)
        torch.testing.assert_close(deltas[lvl][..., :2], delta, atol=0, rtol=0)
        # Deformable DETR's refinement in sigmoid space, where inverse_sigmoid does not clamp
        torch.testing.assert_close(
            refs[lvl + 1].sigmoid(), (delta + inverse_sigmoid(refs[lvl].sigmoid())).sigmoid()
        )
    # without refinement every layer uses the initial reference points
    with torch.no_grad():
        _, refs, deltas = transformer([src], None, [pos], query_pos, ref_pts)
    assert deltas == [None] * 3
    assert all(torch.equal(r, ref_pts) for r in refs)


def test_box_refine_keeps_boxes_inside_the_image() -> None:
    head = _head().train()
    with torch.no_grad():
        for bbox in head.bbox_embed:
            bbox.layers[-1].weight.normal_(std=0.5)
    query_pos, ref_pts, query_mask = _queries(head, 2, NUM_TRACK)
    with torch.no_grad():
        out = head(_feat(), query_pos, ref_pts * 4, query_mask, NUM_DETECT)
    for boxes in [out["pred_boxes"]] + [a["pred_boxes"] for a in out["aux_outputs"]]:
        assert torch.isfinite(boxes).all()
        assert (boxes > 0).all() and (boxes < 1).all()


def test_without_box_refine_heads_are_shared() -> None:
    head = _head(with_box_refine=False)
    assert head.bbox_embed[0] is head.bbox_embed[-1]
    assert head.class_embed[0] is head.class_embed[-1]
    query_pos, ref_pts, query_mask = _queries(head, 2, NUM_TRACK)
    with torch.no_grad():
        out = head(_feat(), query_pos, ref_pts, query_mask, NUM_DETECT)
    assert out["pred_boxes"].shape == (2, NUM_DETECT + NUM_TRACK, 4)


def test_backward_gives_finite_gradients_on_every_parameter() -> None:
    head = _head().train()
    query_pos, ref_pts, query_mask = _queries(head, 2, NUM_TRACK)
    query_mask[0, -1] = False
    query_mask[1, NUM_DETECT:] = False  # no live track: the track attention sees only masks
    out = head(_feat(), query_pos, ref_pts, query_mask, NUM_DETECT)
    loss = sum(
        (o["pred_logits"].sigmoid() * o["pred_boxes"].sum(-1, keepdim=True)).sum()
        for o in [out] + out["aux_outputs"]
    )
    loss = loss + out["hs"].square().mean()
    loss.backward()
    without_grad = [n for n, p in head.named_parameters() if p.grad is None]
    assert not without_grad
    for name, p in head.named_parameters():
        assert torch.isfinite(p.grad).all(), name
    assert head.query_embed.weight.grad.abs().sum() > 0
    assert head.reference_points.weight.grad.abs().sum() > 0


def test_transformer_rejects_bad_inputs() -> None:
    head = _head()
    query_pos, ref_pts, query_mask = _queries(head, 2, NUM_TRACK)
    feat = _feat()
    with pytest.raises(ValueError, match="feat"):
        head(feat[:, :100], query_pos, ref_pts, query_mask, NUM_DETECT)
    with pytest.raises(ValueError, match="num_detect"):
        head(feat, query_pos, ref_pts, query_mask, 20)
    with pytest.raises(ValueError, match="query_mask"):
        head(feat, query_pos, ref_pts, query_mask[:, :-1], NUM_DETECT)
    with pytest.raises(ValueError, match="ref_pts"):
        head(feat, query_pos, ref_pts[:, :-1], query_mask, NUM_DETECT)


def test_multi_head_attention_matches_hand_computation() -> None:
    torch.manual_seed(0)
    d, heads = 4, 2
    attn = MultiHeadAttention(d, heads).double()
    q, k, v = (torch.randn(2, n, d, dtype=torch.float64) for n in (3, 5, 5))
    mask = torch.tensor([[False, True, False, False, True], [True] * 5])
    out = attn(q, k, v, key_padding_mask=mask)
    qp, kp, vp = (x.detach() for x in (attn.q_proj(q), attn.k_proj(k), attn.v_proj(v)))
    dh = d // heads
    want = torch.zeros(2, 3, d, dtype=torch.float64)
    for b in range(2):
        for h in range(heads):
            sl = slice(h * dh, (h + 1) * dh)
            for i in range(3):
                scores = [float(qp[b, i, sl] @ kp[b, j, sl]) / math.sqrt(dh) for j in range(5)]
                keep = [j for j in range(5) if not mask[b, j]]
                if not keep:
                    continue
                top = max(scores[j] for j in keep)
                z = sum(math.exp(scores[j] - top) for j in keep)
                for j in keep:
                    want[b, i, sl] += math.exp(scores[j] - top) / z * vp[b, j, sl]
    want = attn.out_proj(want)
    torch.testing.assert_close(out[0], want[0], atol=1e-12, rtol=0)
    # a batch element with every key masked attends to nothing (no NaN): out_proj's bias
    assert torch.equal(out[1], attn.out_proj.bias.detach().expand(3, d))
    # no mask is plain softmax(QK^T / sqrt(dh)) V per head
    out = attn(q, k, v)
    s = qp.view(2, 3, heads, dh).transpose(1, 2) @ kp.view(2, 5, heads, dh).permute(0, 2, 3, 1)
    ctx = (s / math.sqrt(dh)).softmax(-1) @ vp.view(2, 5, heads, dh).transpose(1, 2)
    torch.testing.assert_close(out, attn.out_proj(ctx.transpose(1, 2).reshape(2, 3, d)))


def test_position_embedding_sine() -> None:
    pe = PositionEmbeddingSine(num_pos_feats=8)
    mask = torch.zeros(1, 3, 4, dtype=torch.bool)
    pos = pe(mask)
    assert pos.shape == (1, 16, 3, 4)
    # channel 0 is sin of the normalised row index, channel 8 sin of the column index
    rows = torch.arange(1, 4, dtype=torch.float32) / (3 + 1e-6) * 2 * math.pi
    cols = torch.arange(1, 5, dtype=torch.float32) / (4 + 1e-6) * 2 * math.pi
    torch.testing.assert_close(pos[0, 0, :, 0], rows.sin())
    torch.testing.assert_close(pos[0, 1, :, 0], rows.cos())
    torch.testing.assert_close(pos[0, 8, 0, :], cols.sin())
    torch.testing.assert_close(pos[0, 3, :, 0], (rows / 10000 ** (2 / 8)).cos())
    # padded pixels do not count
    mask[:, :, 2:] = True
    pos = pe(mask)
    cols = torch.arange(1, 3, dtype=torch.float32) / (2 + 1e-6) * 2 * math.pi
    torch.testing.assert_close(pos[0, 8, 0, :2], cols.sin())
