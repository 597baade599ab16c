"""QueryInteractionModule: track selection (IoU keep, random drop, false positives), the
embedding update against an ``nn.MultiheadAttention`` reference, and the padded export path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hat.models.task_modules.motr.box_ops import inverse_sigmoid
from hat.models.task_modules.motr.qim import QueryInteractionModule, convert_motr_qim_state_dict
from hat.models.task_modules.motr.track_instances import TrackInstances, empty_track_instances
from hat.registry import build_from_registry

D = 32
HIDDEN = 64
NUM_CLASSES = 1


def _qim(**kwargs) -> QueryInteractionModule:
    torch.manual_seed(0)
    kwargs = {"random_drop": 0.0, "fp_ratio": 0.0, **kwargs}
    return QueryInteractionModule(dim_in=D, hidden_dim=HIDDEN, dim_out=2 * D, **kwargs)


def _init(n: int = 5) -> TrackInstances:
    g = torch.Generator().manual_seed(1)
    return empty_track_instances(torch.randn(n, 2 * D, generator=g), torch.zeros(n, 2), NUM_CLASSES)


def _tracks(obj_idxes, iou=None, boxes=None, seed: int = 2) -> TrackInstances:
    """Queries after a frame: random embeddings, the given ids, IoUs and boxes."""
    n = len(obj_idxes)
    g = torch.Generator().manual_seed(seed)
    t = empty_track_instances(torch.randn(n, 2 * D, generator=g), torch.zeros(n, 2), NUM_CLASSES)
    t.output_embedding = torch.randn(n, D, generator=g)
    t.obj_idxes = torch.tensor(obj_idxes, dtype=torch.long)
    t.iou = torch.tensor(iou if iou is not None else [0.9] * n, dtype=torch.float)
    if boxes is None:
        boxes = torch.cat([torch.rand(n, 2, generator=g) * 0.8 + 0.1, torch.full((n, 2), 0.1)], 1)
    t.pred_boxes = torch.as_tensor(boxes, dtype=torch.float)
    t.scores = torch.rand(n, generator=g)
    return t


def _tail_ids(out: TrackInstances, n_init: int) -> list[int]:
    return out.obj_idxes[n_init:].tolist()


def test_output_is_init_then_active_with_every_field_shaped():
    qim = _qim().eval()
    init, tracks = _init(5), _tracks([-1, 3, -1, 7, 0, -1])
    out = qim(tracks, init)
    assert len(out) == 5 + 3
    expected = {
        "query_pos": (8, 2 * D),
        "ref_pts": (8, 2),
        "output_embedding": (8, D),
        "pred_logits": (8, NUM_CLASSES),
        "pred_boxes": (8, 4),
        "scores": (8,),
        "track_scores": (8,),
        "iou": (8,),
        "obj_idxes": (8,),
        "matched_gt_idxes": (8,),
        "disappear_time": (8,),
    }
    assert {k: tuple(v.shape) for k, v in out.fields().items()} == expected
    assert _tail_ids(out, 5) == [3, 7, 0]
    torch.testing.assert_close(out.query_pos[:5], init.query_pos, rtol=0, atol=0)
    torch.testing.assert_close(out.ref_pts[:5], init.ref_pts, rtol=0, atol=0)
    assert out.obj_idxes.dtype == torch.long


def test_training_keeps_matched_tracks_above_the_iou_threshold():
    qim = _qim().train()
    tracks = _tracks([0, 1, 2, -1, 4, 5], iou=[0.9, 0.5, 0.51, 0.95, 0.2, 0.7])
    out = qim(tracks, _init(4))
    assert _tail_ids(out, 4) == [0, 2, 5]  # 0.5 is not above 0.5; -1 never kept


def test_eval_ignores_iou_and_randomness():
    qim = _qim(random_drop=1.0, fp_ratio=1.0).eval()
    tracks = _tracks([0, 1, -1, 4], iou=[0.0, 0.1, 0.9, 0.0])
    out = qim(tracks, _init(4))
    assert _tail_ids(out, 4) == [0, 1, 4]


def test_random_drop_one_drops_all_and_zero_none():
    tracks = _tracks([0, 1, 2, 3])
    out = _qim(random_drop=1.0).train()(tracks, _init(3))
    assert len(out) == 3
    out = _qim(random_drop=0.0).train()(tracks, _init(3))
    assert _tail_ids(out, 3) == [0, 1, 2, 3]


def test_random_drop_draws_from_the_given_generator():
    tracks = _tracks(list(range(12)))
    keep = torch.rand(12, generator=torch.Generator().manual_seed(5)) > 0.5
    expected = torch.arange(12)[keep].tolist()
    assert 0 < len(expected) < 12
    qim = _qim(random_drop=0.5, generator=torch.Generator().manual_seed(5)).train()
    assert _tail_ids(qim(tracks, _init(2)), 2) == expected
    # a forward generator overrides the constructor's
    qim = _qim(random_drop=0.5, generator=torch.Generator().manual_seed(99)).train()
    out = qim(tracks, _init(2), generator=torch.Generator().manual_seed(5))
    assert _tail_ids(out, 2) == expected


def _box(cx, cy, w=0.1, h=0.1):
    return [cx, cy, w, h]


def test_fp_insertion_adds_the_highest_iou_inactive_query_once_per_track():
    boxes = [
        _box(0.2, 0.2),  # 0: track 10
        _box(0.7, 0.7),  # 1: track 11
        _box(0.5, 0.5),  # 2: inactive, far from both
        _box(0.73, 0.7),  # 3: inactive, IoU 0.54 with track 11
        _box(0.22, 0.21),  # 4: inactive, IoU 0.56 with track 10
        _box(0.21, 0.2),  # 5: inactive, IoU 0.82 with track 10 (the best)
        _box(0.9, 0.1),  # 6: inactive, far
    ]
    tracks = _tracks([10, 11, -1, -1, -1, -1, -1], boxes=boxes)
    qim = _qim(fp_ratio=1.0).train()
    out = qim(tracks, _init(2))
    # the active tracks, then the chosen inactive queries in their original order
    assert len(out) == 2 + 2 + 2
    assert _tail_ids(out, 2) == [10, 11, -1, -1]
    torch.testing.assert_close(out.pred_boxes[4:], tracks.pred_boxes[[3, 5]])
    torch.testing.assert_close(out.output_embedding[4:], tracks.output_embedding[[3, 5]])


def test_fp_insertion_takes_a_shared_best_query_once():
    boxes = [_box(0.2, 0.2), _box(0.22, 0.2), _box(0.21, 0.2), _box(0.8, 0.8), _box(0.5, 0.5)]
    tracks = _tracks([0, 1, -1, -1, -1], boxes=boxes)
    out = _qim(fp_ratio=1.0).train()(tracks, _init(1))
    assert len(out) == 1 + 2 + 1
    torch.testing.assert_close(out.pred_boxes[3], tracks.pred_boxes[2])


def test_fp_insertion_takes_every_inactive_query_when_they_are_fewer():
    tracks = _tracks([0, 1, 2, -1, -1])
    out = _qim(fp_ratio=1.0).train()(tracks, _init(1))
    assert _tail_ids(out, 1) == [0, 1, 2, -1, -1]
    torch.testing.assert_close(out.pred_boxes[4:], tracks.pred_boxes[3:])


def test_fp_ratio_zero_adds_nothing_and_iou_filtered_tracks_bring_none():
    boxes = [_box(0.2, 0.2), _box(0.21, 0.2), _box(0.7, 0.7), _box(0.5, 0.5)]
    tracks = _tracks([0, -1, 2, -1], iou=[0.9, 0.0, 0.1, 0.0], boxes=boxes)
    assert _tail_ids(_qim(fp_ratio=0.0).train()(tracks, _init(1)), 1) == [0]
    out = _qim(fp_ratio=1.0).train()(tracks, _init(1))
    assert _tail_ids(out, 1) == [0, -1]
    torch.testing.assert_close(out.pred_boxes[2], tracks.pred_boxes[1])


@pytest.mark.parametrize("training", [True, False])
def test_no_active_track_returns_only_the_init_queries(training):
    qim = _qim(random_drop=0.1, fp_ratio=1.0).train(training)
    init = _init(3)
    for tracks in (_tracks([-1, -1, -1]), _tracks([-1, -1])[torch.zeros(2, dtype=torch.bool)]):
        out = qim(tracks, init)
        assert len(out) == 3
        torch.testing.assert_close(out.query_pos, init.query_pos, rtol=0, atol=0)


def test_ref_pts_are_the_detached_logits_of_the_box_centres():
    qim = _qim().eval()
    tracks = _tracks([0, -1, 1])
    tracks.pred_boxes = tracks.pred_boxes.clone().requires_grad_(True)
    out = qim(tracks, _init(2))
    torch.testing.assert_close(out.ref_pts[2:], inverse_sigmoid(tracks.pred_boxes[[0, 2], :2]))
    assert not out.ref_pts.requires_grad
    assert torch.allclose(out.ref_pts[2:].sigmoid(), tracks.pred_boxes[[0, 2], :2], atol=1e-6)


def _motr_reference_update(
    qim: QueryInteractionModule, mha: nn.MultiheadAttention, query_pos, out_embed
) -> torch.Tensor:
    """MOTR's ``_update_track_embedding`` (dropout 0), with ``nn.MultiheadAttention``."""
    d = query_pos.shape[1] // 2
    pos, feat = query_pos[:, :d], query_pos[:, d:]
    q = k = pos + out_embed
    tgt = out_embed
    tgt2 = mha(q[:, None], k[:, None], value=tgt[:, None])[0][:, 0]
    tgt = qim.norm1(tgt + tgt2)
    tgt = qim.norm2(tgt + qim.linear2(F.relu(qim.linear1(tgt))))
    pos = qim.norm_pos(pos + qim.linear_pos2(F.relu(qim.linear_pos1(tgt))))
    feat = qim.norm_feat(feat + qim.linear_feat2(F.relu(qim.linear_feat1(tgt))))
    return torch.cat([pos, feat], 1)


def test_update_matches_motr_with_multihead_attention_weights():
    qim = _qim().eval()
    torch.manual_seed(3)
    mha = nn.MultiheadAttention(D, 8)
    nn.init.normal_(mha.in_proj_bias, std=0.1)
    nn.init.normal_(mha.out_proj.bias, std=0.1)
    motr_state = {k: v for k, v in qim.state_dict().items() if not k.startswith("self_attn.")}
    motr_state.update({f"self_attn.{k}": v for k, v in mha.state_dict().items()})
    motr_state["norm3.weight"] = torch.ones(D)
    motr_state["norm3.bias"] = torch.zeros(D)
    qim.load_state_dict(convert_motr_qim_state_dict(motr_state))

    tracks = _tracks([4, 2, -1, 9, 1])
    out = qim(tracks, _init(2))
    active = tracks[tracks.obj_idxes >= 0]
    with torch.no_grad():
        expected = _motr_reference_update(
            qim, mha.eval(), active.query_pos, active.output_embedding
        )
    torch.testing.assert_close(out.query_pos[2:], expected, rtol=1e-5, atol=1e-5)


def test_update_query_pos_false_keeps_the_positional_half():
    qim = _qim(update_query_pos=False).eval()
    assert not hasattr(qim, "linear_pos1")
    tracks = _tracks([0, 1])
    out = qim(tracks, _init(1))
    torch.testing.assert_close(out.query_pos[1:, :D], tracks.query_pos[:, :D], rtol=0, atol=0)
    assert not torch.allclose(out.query_pos[1:, D:], tracks.query_pos[:, D:])


def _padded(n: int = 7, seed: int = 4):
    g = torch.Generator().manual_seed(seed)
    query_pos = torch.randn(n, 2 * D, generator=g)
    out_embed = torch.randn(n, D, generator=g)
    boxes = torch.cat([torch.rand(n, 2, generator=g) * 0.8 + 0.1, torch.full((n, 2), 0.2)], 1)
    mask = torch.tensor([True, False, True, True, False, False, True][:n])
    return query_pos, out_embed, boxes, mask


def test_padded_update_equals_dynamic_update_on_valid_rows():
    qim = _qim().eval()
    query_pos, out_embed, boxes, mask = _padded()
    tracks = TrackInstances(query_pos=query_pos, output_embedding=out_embed, pred_boxes=boxes)
    dynamic = qim.update_tracks(tracks[mask])
    with torch.no_grad():
        new_pos, ref_pts = qim.update_track_embedding(query_pos, out_embed, boxes, mask)
    assert new_pos.shape == (7, 2 * D) and ref_pts.shape == (7, 2)
    torch.testing.assert_close(new_pos[mask], dynamic.query_pos.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ref_pts[mask], dynamic.ref_pts)
    torch.testing.assert_close(ref_pts, inverse_sigmoid(boxes[:, :2]))
    assert torch.isfinite(new_pos[~mask]).all()  # padded rows: finite, of no meaning


def test_padded_rows_do_not_change_valid_rows():
    qim = _qim().eval()
    query_pos, out_embed, boxes, mask = _padded()
    with torch.no_grad():
        base, _ = qim.update_track_embedding(query_pos, out_embed, boxes, mask)
        g = torch.Generator().manual_seed(8)
        pos2, emb2 = query_pos.clone(), out_embed.clone()
        pos2[~mask] = torch.randn(int((~mask).sum()), 2 * D, generator=g) * 100
        emb2[~mask] = torch.randn(int((~mask).sum()), D, generator=g) * 100
        other, _ = qim.update_track_embedding(pos2, emb2, boxes, mask)
    torch.testing.assert_close(other[mask], base[mask], rtol=1e-6, atol=1e-6)


def test_padded_update_batched_equals_unbatched():
    qim = _qim().eval()
    a, b = _padded(seed=4), _padded(seed=5)
    b[3][:] = torch.tensor([False, True, True, False, True, False, False])
    batched = [torch.stack([x, y]) for x, y in zip(a, b)]
    with torch.no_grad():
        pos, ref = qim.update_track_embedding(*batched)
        for i, single in enumerate((a, b)):
            p, r = qim.update_track_embedding(*single)
            torch.testing.assert_close(pos[i], p, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(ref[i], r)


def test_padded_update_with_no_valid_slot_is_finite():
    qim = _qim().eval()
    query_pos, out_embed, boxes, _ = _padded()
    with torch.no_grad():
        pos, _ = qim.update_track_embedding(query_pos, out_embed, boxes, torch.zeros(7, dtype=bool))
        # the deployed form takes a 0/1 float mask
        pos_f = qim.track_query_pos(query_pos, out_embed, torch.zeros(7))
    assert pos.shape == query_pos.shape and torch.isfinite(pos).all()
    assert torch.equal(pos, pos_f)


def test_gradient_flows_into_output_embedding_and_query_pos():
    qim = _qim().train()
    tracks = _tracks([0, 1, 2, -1])
    tracks.output_embedding = tracks.output_embedding.clone().requires_grad_(True)
    tracks.query_pos = tracks.query_pos.clone().requires_grad_(True)
    out = qim(tracks, _init(2))
    out.query_pos[2:].square().sum().backward()
    grad = tracks.output_embedding.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert (grad[:3].abs().sum(1) > 0).all()  # every active track gets a gradient
    assert grad[3].abs().sum() == 0  # the inactive query takes no part
    assert tracks.query_pos.grad[:3].abs().sum() > 0
    assert all(p.grad is not None for p in qim.parameters())


def test_built_from_config():
    qim = build_from_registry(
        dict(type="QueryInteractionModule", dim_in=D, hidden_dim=HIDDEN, dim_out=2 * D)
    )
    assert isinstance(qim, QueryInteractionModule)
    assert qim.random_drop == 0.1 and qim.fp_ratio == 0.3 and qim.iou_keep_threshold == 0.5
    assert qim.linear1.out_features == HIDDEN
    with pytest.raises(ValueError, match="random_drop"):
        QueryInteractionModule(dim_in=D, hidden_dim=HIDDEN, random_drop=1.5)
