"""``Motr``: clip training through the criterion and QIM, and frame-by-frame tracking with
fixed track slots (ids kept across frames, state restarted per sequence)."""

from __future__ import annotations

import pytest
import torch

import hat.models  # noqa: F401  (registers the model parts)
from hat.registry import build_from_registry

D = 64


def tiny_motr(score_thresh: float = 0.7, filter_score_thresh: float = 0.6, slots: int = 4):
    cfg = dict(
        type="Motr",
        backbone=dict(
            type="efficientnet", model_type="b0", include_top=False, activation="relu",
            use_se_block=False, num_classes=1000,
        ),
        head=dict(
            type="MotrHead",
            transformer=dict(
                type="MotrDeformableTransformer", d_model=D, nhead=4, num_encoder_layers=1,
                num_decoder_layers=2, dim_feedforward=128,
            ),
            num_classes=1, in_channels=320, num_queries=10,
        ),
        criterion=dict(type="MotrCriterion", num_classes=1),
        post_process=dict(type="MotrPostProcess", score_threshold=0.0, area_threshold=0.0),
        track_embed=dict(type="QueryInteractionModule", dim_in=D, hidden_dim=128, dim_out=D),
        runtime_tracker=dict(
            type="RuntimeTracker", score_thresh=score_thresh,
            filter_score_thresh=filter_score_thresh,
        ),
        max_track_slots=slots,
    )  # fmt: skip
    return build_from_registry(cfg, "model")


def frame(t: int, batch: int = 1, seq: str = "s", first_id: int = 1) -> dict:
    """One collated frame of ``batch`` clips: two pedestrians, one walking right."""
    boxes = torch.tensor([[8.0 + 4 * t, 10.0, 28.0 + 4 * t, 50.0], [56.0, 16.0, 76.0, 60.0]])
    return dict(
        img=torch.randn(batch, 3, 64, 96, generator=torch.Generator().manual_seed(t)),
        gt_bboxes=[boxes.clone() for _ in range(batch)],
        gt_ids=[torch.tensor([1, 2]) for _ in range(batch)],
        seq_name=[seq] * batch,
        frame_id=torch.arange(batch) + first_id + t,
        ori_shape=torch.tensor([[128, 192]] * batch),
    )


def test_clip_training_gives_finite_losses_and_learns_one_clip() -> None:
    torch.manual_seed(0)
    model = tiny_motr()
    model.train()
    clip = {"frames": [frame(t, batch=2) for t in range(3)], "clip_length": 3}
    losses = model(clip)["losses"]
    assert {"loss_ce", "loss_bbox", "loss_giou", "loss_ce_aux0"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    # 2 clips x 3 frames x 2 objects, no disappeared track: the collective average's count
    assert model.criterion.num_samples == 12
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for _ in range(25):
        total = sum(model(clip)["losses"].values())
        opt.zero_grad()
        total.backward()
        opt.step()
        first = float(total.detach()) if first is None else first
    assert float(total.detach()) < 0.6 * first
    assert model.head.query_embed.weight.grad is not None


def test_tracking_keeps_ids_across_frames_and_caps_the_slots() -> None:
    torch.manual_seed(0)
    model = tiny_motr(score_thresh=0.0, filter_score_thresh=0.0, slots=4)
    model.eval()
    first = model({"frames": [frame(0)]})[0]
    assert first["frame_id"] == 1 and first["seq_name"] == "s"
    assert len(first["ids"]) > 0  # every detect query starts a track at threshold 0
    state = model._state
    assert int(state.mask.sum()) == 4  # only the best 4 tracks enter the slots
    kept = set(state.obj_idxes[state.mask].tolist())
    second = model({"frames": [frame(1, first_id=1)]})[0]
    assert kept <= set(second["ids"].tolist())  # tracks in slots keep their ids
    assert max(second["ids"].tolist()) >= 10  # new detect queries got new ids
    # a new sequence (or an earlier frame) restarts the ids
    other = model({"frames": [frame(0, seq="t")]})[0]
    assert min(other["ids"].tolist()) == 0


def test_batched_evaluation_frames_run_in_order() -> None:
    torch.manual_seed(0)
    model = tiny_motr(score_thresh=0.0, filter_score_thresh=0.0)
    model.eval()
    out = model({"frames": [frame(0, batch=3)]})
    assert [r["frame_id"] for r in out] == [1, 2, 3]
    assert model._state.frame_id == 3


def test_bad_batches_name_what_is_expected() -> None:
    model = tiny_motr()
    model.eval()
    with pytest.raises(KeyError, match="one collated frame"):
        model({"frames": [frame(0), frame(1)]})
    model.train()
    with pytest.raises(KeyError, match="collate_mot_clips"):
        model({"img": torch.zeros(1, 3, 64, 96)})


def test_deploy_forward_takes_the_fixed_query_layout() -> None:
    torch.manual_seed(0)
    model = tiny_motr(slots=4)
    model.eval()
    state = model._state_for("s", 1, torch.device("cpu"))
    q = model.deploy_queries(state)
    img = torch.randn(1, 3, 64, 96)
    out = model(dict(img=img, query_pos=q["query_pos"], mask_query=q["query_mask"].float(),
                     ref_pts=q["ref_pts"]))  # fmt: skip
    assert out["pred_logits"].shape == (1, 14, 1) and out["pred_boxes"].shape == (1, 14, 4)
    assert out["hs"].shape == (1, 14, D)
    # the same numbers as the tracking path's head call
    with torch.no_grad():
        ref = model._head(model.image_feature(img), **q)
    assert torch.equal(out["pred_boxes"], ref["pred_boxes"])
    with pytest.raises(ValueError, match="10 detect queries \\+ 4 track slots"):
        model(dict(img=img, query_pos=q["query_pos"][:, :5], mask_query=q["query_mask"][:, :5],
                   ref_pts=q["ref_pts"][:, :5]))  # fmt: skip


def test_qim_graph_loads_the_trackers_weights_and_updates_the_slots() -> None:
    torch.manual_seed(0)
    model = tiny_motr(slots=4)
    qim = build_from_registry(
        dict(type="MotrQim", track_embed=dict(type="QueryInteractionModule", dim_in=D,
                                              hidden_dim=128, dim_out=D)),
        "model",
    )  # fmt: skip
    result = qim.load_state_dict(
        {k: v for k, v in model.state_dict().items() if k.startswith("track_embed.")}
    )
    assert not result.missing_keys and not result.unexpected_keys
    qim.eval()
    model.eval()
    inputs = dict(
        query_pos=torch.randn(1, 4, 2 * D),
        output_embedding=torch.randn(1, 4, D),
        mask_query=torch.tensor([[1.0, 1.0, 0.0, 0.0]]),
    )
    with torch.no_grad():
        out = qim(inputs)
        ref_pos, _ = model.track_embed.update_track_embedding(
            inputs["query_pos"], inputs["output_embedding"], torch.rand(1, 4, 4),
            inputs["mask_query"] > 0.5,
        )  # fmt: skip
    assert list(out) == ["track_query_pos"] and torch.equal(out["track_query_pos"], ref_pos)
    assert not torch.allclose(out["track_query_pos"][0, :2], inputs["query_pos"][0, :2])
    with pytest.raises(KeyError, match="output_embedding"):
        qim({"query_pos": inputs["query_pos"], "mask_query": inputs["mask_query"]})
