"""``Motr``: MOTR's tracker (backbone, deformable-transformer head, query interaction), HAT's
``Motr``.

Data flow of one frame (``d`` = ``head.d_model``, ``Nd`` detect queries, ``S`` track slots)::

    img (1, 3, H, W) -> backbone -> feats[feat_index] (1, C, h, w)
    query_pos (1, Nd + S, 2d), ref_pts (1, Nd + S, 2) logits, query_mask (1, Nd + S)
    -> head -> pred_logits (1, Nq, K), pred_boxes (1, Nq, 4) normalised cxcywh, hs (1, Nq, d)

**Training** (``data = collate_mot_clips`` of clips of ``L`` frames): frame after frame, the
queries are the fresh detect queries followed by the tracks that the query interaction module
(``track_embed``) handed on from the previous frame; the criterion matches each frame
(tracks keep their identity, new objects go to detect queries) and the losses of the whole
batch are the collective average (``criterion.clip_losses``). Gradients flow across frames
through the track queries, as in MOTR.

**Evaluation** runs the tracker frame by frame, as the deployed model does: the tracks live in
``S = max_track_slots`` fixed slots with a validity mask (the deployed graph has static shapes),
the runtime tracker gives and takes identities, and the query interaction module's fixed-size
update refreshes the slots for the next frame. The state is kept per sequence and restarts when
a new sequence (or an earlier frame) arrives. Each frame returns
``dict(seq_name, frame_id, boxes, ids, scores)`` in the original image's pixels, what
:class:`~hat.metrics.mot.MotMetric` reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hat.models.task_modules.motr.box_ops import box_xyxy_to_cxcywh, inverse_sigmoid
from hat.models.task_modules.motr.track_instances import TrackInstances, empty_track_instances
from hat.nn import QuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = ["Motr", "MotrGraphs", "MotrTrackState"]

BaseGraph = Callable[[dict[str, torch.Tensor]], Mapping[str, torch.Tensor]]
QimGraph = Callable[[dict[str, torch.Tensor]], Mapping[str, torch.Tensor]]


class MotrGraphs:
    """The two deployed graphs the evaluation loop calls, as callables on named inputs:

    * ``base({img, query_pos, mask_query, ref_pts}) -> {pred_logits, pred_boxes, hs}``;
    * ``qim({query_pos, output_embedding, mask_query}) -> {track_query_pos}``.

    :meth:`Motr.own_graphs` gives the model's own (float, fake-quantized or integer); a
    deployment runs the exported files instead (e.g. on ONNX Runtime) with the same host code.
    """

    def __init__(self, base: BaseGraph, qim: QimGraph) -> None:
        self.base, self.qim = base, qim


class MotrTrackState:
    """The tracks carried between frames of one sequence: ``S`` fixed slots.

    Slot fields (first dimension ``S``): ``query_pos (S, 2d)``, ``ref_pts (S, 2)``, ``mask (S,)``
    bool (valid slot), ``obj_idxes (S,)`` long, ``disappear_time (S,)`` long.
    """

    def __init__(self, seq_name: str, slots: int, d_model: int, device: torch.device) -> None:
        self.seq_name = seq_name
        self.frame_id = -1
        self.query_pos = torch.zeros(slots, 2 * d_model, device=device)
        self.ref_pts = torch.zeros(slots, 2, device=device)
        self.mask = torch.zeros(slots, dtype=torch.bool, device=device)
        self.obj_idxes = torch.full((slots,), -1, dtype=torch.long, device=device)
        self.disappear_time = torch.zeros(slots, dtype=torch.long, device=device)

    @property
    def num_slots(self) -> int:
        return int(self.mask.shape[0])


@OBJECT_REGISTRY.register
class Motr(nn.Module):
    """MOTR (Zeng et al. 2022) with a single feature level, as HAT's EfficientNet-B3 variant.

    Args:
        backbone: image backbone returning a list of feature maps.
        head: :class:`~hat.models.task_modules.motr.head.MotrHead`.
        criterion: :class:`~hat.models.task_modules.motr.criterion.MotrCriterion` (training).
        post_process: :class:`~hat.models.task_modules.motr.post_process.MotrPostProcess`.
        track_embed: :class:`~hat.models.task_modules.motr.qim.QueryInteractionModule`.
        runtime_tracker: :class:`~hat.models.task_modules.motr.runtime_tracker.RuntimeTracker`
            (evaluation: new-track, keep and miss thresholds).
        feat_index: which backbone output the head reads.
        max_track_slots: track slots of the evaluation/deployed model (tracks beyond it: the
            lowest scores are dropped).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        track_embed: nn.Module,
        runtime_tracker: Any,
        post_process: Any,
        criterion: nn.Module | None = None,
        feat_index: int = -1,
        max_track_slots: int = 64,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.track_embed = track_embed
        self.criterion = criterion
        self.runtime_tracker = runtime_tracker
        self.post_process = post_process
        self.feat_index = int(feat_index)
        if max_track_slots < 1:
            raise ValueError(f"Motr: max_track_slots must be >= 1, got {max_track_slots}")
        self.max_track_slots = int(max_track_slots)
        self.num_classes = int(head.num_classes)
        self.d_model = int(head.hidden_dim)
        self.quant = QuantStub(scale=1.0 / 128)
        self._state: MotrTrackState | None = None

    # -- parts -----------------------------------------------------------------------------------
    def image_feature(self, img: torch.Tensor) -> torch.Tensor:
        """The feature map the head reads, ``(B, C, h, w)``."""
        feats = self.backbone(self.quant(img))
        try:
            return feats[self.feat_index]
        except IndexError:
            raise ValueError(
                f"Motr: feat_index {self.feat_index} out of range for the backbone's "
                f"{len(feats)} outputs"
            ) from None

    def detect_instances(self) -> TrackInstances:
        """Fresh detect queries (no identities)."""
        query_pos, ref_pts = self.head.init_queries()
        return empty_track_instances(query_pos, ref_pts, self.num_classes)

    def _head(
        self, feat: torch.Tensor, query_pos: torch.Tensor, ref_pts: torch.Tensor,
        query_mask: torch.Tensor,
    ) -> dict[str, Any]:  # fmt: skip
        num_detect = int(self.head.num_queries)
        return self.head(feat, query_pos, ref_pts, query_mask, num_detect)

    # -- training --------------------------------------------------------------------------------
    @staticmethod
    def frame_targets(frame: Mapping[str, Any], index: int, img_hw: Sequence[int]) -> dict:
        """Sample ``index`` of a collated frame as the criterion's targets: normalised
        ``cxcywh`` boxes, class 0 (one tracked class), identities."""
        h, w = (float(v) for v in img_hw)
        for key in ("gt_bboxes", "gt_ids"):
            if key not in frame:
                raise KeyError(f"Motr: training frames need {key!r} (collate_mot_clips)")
        boxes = torch.as_tensor(frame["gt_bboxes"][index], dtype=torch.float32)
        ids = torch.as_tensor(frame["gt_ids"][index], dtype=torch.long)
        if boxes.numel() == 0:
            boxes = boxes.reshape(0, 4)
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=boxes.device)
        return dict(
            boxes=box_xyxy_to_cxcywh(boxes / scale),
            labels=torch.zeros(len(ids), dtype=torch.long, device=ids.device),
            obj_ids=ids,
        )

    def _train_clip(self, frames: Sequence[Mapping[str, Any]], index: int) -> None:
        tracks: TrackInstances | None = None
        for t, frame in enumerate(frames):
            img = frame["img"][index : index + 1]
            feat = self.image_feature(img)
            inst = self.detect_instances() if tracks is None else tracks
            mask = torch.ones(1, len(inst), dtype=torch.bool, device=img.device)
            out = self._head(feat, inst.query_pos[None], inst.ref_pts[None], mask)
            inst.pred_logits = out["pred_logits"][0]
            inst.pred_boxes = out["pred_boxes"][0]
            inst.output_embedding = out["hs"][0]
            inst.scores = out["pred_logits"][0, :, 0].sigmoid().detach()
            gt = self.frame_targets(frame, index, img.shape[-2:])
            gt = {k: v.to(img.device) for k, v in gt.items()}
            outputs = dict(
                pred_logits=out["pred_logits"][0],
                pred_boxes=out["pred_boxes"][0],
                aux_outputs=[
                    {k: v[0] for k, v in aux.items()} for aux in out.get("aux_outputs", [])
                ],
            )
            inst = self.criterion.match_frame(outputs, inst, gt)
            if t + 1 < len(frames):
                tracks = self.track_embed(inst, self.detect_instances())

    def _forward_train(self, data: Mapping[str, Any]) -> dict[str, Any]:
        if self.criterion is None:
            raise ValueError("Motr: training needs a criterion")
        frames = data.get("frames")
        if not isinstance(frames, Sequence) or not frames:
            raise KeyError("Motr: a training batch is {'frames': [...]} (collate_mot_clips)")
        self.criterion.init_clip()
        for b in range(int(frames[0]["img"].shape[0])):
            self._train_clip(frames, b)
        return {"losses": self.criterion.clip_losses()}

    # -- evaluation ------------------------------------------------------------------------------
    def reset_tracks(self) -> None:
        """Forget the current sequence's tracks (the next frame starts a new one)."""
        self._state = None
        self.runtime_tracker.reset()

    def _state_for(self, seq_name: str, frame_id: int, device: torch.device) -> MotrTrackState:
        state = self._state
        if state is None or state.seq_name != seq_name or frame_id <= state.frame_id:
            self.runtime_tracker.reset()
            state = MotrTrackState(seq_name, self.max_track_slots, self.d_model, device)
            self._state = state
        return state

    def deploy_queries(self, state: MotrTrackState) -> dict[str, torch.Tensor]:
        """The head inputs of a frame: detect queries then the track slots, with the mask."""
        query_pos, ref_pts = self.head.init_queries()
        nd = query_pos.shape[0]
        mask = torch.cat([torch.ones(nd, dtype=torch.bool, device=state.mask.device), state.mask])
        return dict(
            query_pos=torch.cat([query_pos, state.query_pos])[None],
            ref_pts=torch.cat([ref_pts, state.ref_pts])[None],
            query_mask=mask[None],
        )

    def track_frame(
        self,
        out: Mapping[str, torch.Tensor],
        state: MotrTrackState,
        graphs: MotrGraphs | None = None,
    ) -> TrackInstances:
        """Runtime tracking of one frame's head outputs: identities given and taken by the
        runtime tracker, the next frame's slots refreshed by the query interaction module
        (``graphs.qim``, default the model's own). Returns the frame's valid queries (detect
        queries and live tracks) with their ids."""
        nd = int(self.head.num_queries)
        query_pos, ref_pts = self.head.init_queries()
        query_pos, ref_pts = query_pos.detach(), ref_pts.detach()
        logits, boxes, hs = out["pred_logits"][0], out["pred_boxes"][0], out["hs"][0]
        valid = torch.cat([torch.ones(nd, dtype=torch.bool, device=logits.device), state.mask])
        obj = torch.cat([torch.full((nd,), -1, dtype=torch.long, device=logits.device),
                         state.obj_idxes])  # fmt: skip
        gone = torch.cat([torch.zeros(nd, dtype=torch.long, device=logits.device),
                          state.disappear_time])  # fmt: skip
        all_pos = torch.cat([query_pos, state.query_pos])
        inst = TrackInstances(
            query_pos=all_pos[valid],
            ref_pts=torch.cat([ref_pts, state.ref_pts])[valid],
            output_embedding=hs[valid],
            pred_logits=logits[valid],
            pred_boxes=boxes[valid],
            scores=logits[valid][:, 0].sigmoid(),
            obj_idxes=obj[valid],
            disappear_time=gone[valid],
        )
        self.runtime_tracker.update(inst)
        self._refresh_slots(inst, state, graphs or self.own_graphs())
        return inst

    def _refresh_slots(
        self, inst: TrackInstances, state: MotrTrackState, graphs: MotrGraphs
    ) -> None:
        live = (inst.obj_idxes >= 0).nonzero().flatten()
        if live.numel() > state.num_slots:  # keep the best-scoring tracks
            order = inst.scores[live].argsort(descending=True, stable=True)
            live = live[order[: state.num_slots]].sort().values
        s, n = state.num_slots, live.numel()
        device = inst.scores.device
        query_pos = torch.zeros(s, 2 * self.d_model, device=device)
        embed = torch.zeros(s, self.d_model, device=device)
        boxes = torch.full((s, 4), 0.5, device=device)
        mask = torch.zeros(s, dtype=torch.bool, device=device)
        query_pos[:n], embed[:n], boxes[:n] = (
            inst.query_pos[live],
            inst.output_embedding[live],
            inst.pred_boxes[live],
        )
        mask[:n] = True
        qim_in = dict(query_pos=query_pos[None], output_embedding=embed[None],
                      mask_query=mask[None].float())  # fmt: skip
        new_pos = graphs.qim(qim_in)["track_query_pos"][0]
        # the next frame's reference points: the box centres' logits (host code, between
        # the two graphs, as on the board)
        new_ref = inverse_sigmoid(boxes[:, :2].detach())
        state.query_pos, state.ref_pts, state.mask = new_pos, new_ref, mask
        state.obj_idxes = torch.full((s,), -1, dtype=torch.long, device=device)
        state.obj_idxes[:n] = inst.obj_idxes[live]
        state.disappear_time = torch.zeros(s, dtype=torch.long, device=device)
        state.disappear_time[:n] = inst.disappear_time[live]

    def own_graphs(self) -> MotrGraphs:
        """This model's base graph (:meth:`deploy_forward`) and QIM graph
        (``track_embed.track_query_pos``) as :class:`MotrGraphs`."""
        return MotrGraphs(
            lambda x: self.deploy_forward(x["img"], x["query_pos"], x["mask_query"], x["ref_pts"]),
            lambda x: {
                "track_query_pos": self.track_embed.track_query_pos(
                    x["query_pos"], x["output_embedding"], x["mask_query"]
                )
            },
        )

    def track(self, data: Mapping[str, Any], graphs: MotrGraphs | None = None) -> list[dict]:
        """Frame-by-frame tracking of an evaluation batch with ``graphs`` (default: the
        model's own); the host code (queries, runtime tracker, slots, post-processing) is the
        same whichever graphs run."""
        return self._forward_eval(data, graphs or self.own_graphs())

    def _forward_eval(
        self, data: Mapping[str, Any], graphs: MotrGraphs | None = None
    ) -> list[dict[str, Any]]:
        graphs = graphs or self.own_graphs()
        frames = data.get("frames")
        if not isinstance(frames, Sequence) or len(frames) != 1:
            raise KeyError(
                "Motr: an evaluation batch is {'frames': [one collated frame]} (clip length 1)"
            )
        frame = frames[0]
        results = []
        for b in range(int(frame["img"].shape[0])):  # consecutive frames: one after the other
            img = frame["img"][b : b + 1]
            seq = frame["seq_name"][b]
            frame_id = int(frame["frame_id"][b])
            state = self._state_for(seq, frame_id, img.device)
            q = self.deploy_queries(state)
            out = graphs.base(
                dict(img=img, query_pos=q["query_pos"].detach(),
                     mask_query=q["query_mask"].float(), ref_pts=q["ref_pts"].detach())
            )  # fmt: skip
            inst = self.track_frame(out, state, graphs)
            state.frame_id = frame_id
            ori = frame.get("ori_shape")
            hw = tuple(int(v) for v in ori[b]) if ori is not None else tuple(img.shape[-2:])
            res = self.post_process(inst, hw)
            results.append(
                dict(seq_name=seq, frame_id=frame_id, boxes=res["boxes"], ids=res["track_ids"],
                     scores=res["scores"])
            )  # fmt: skip
        return results

    # -- deployment ------------------------------------------------------------------------------
    def qim_example_inputs(self) -> dict[str, torch.Tensor]:
        """Example inputs of the QIM graph: ``query_pos (1, S, 2d)``, ``output_embedding
        (1, S, d)``, ``mask_query (1, S)`` (all slots valid)."""
        s, d = self.max_track_slots, self.d_model
        g = torch.Generator().manual_seed(0)
        return dict(
            query_pos=torch.randn(1, s, 2 * d, generator=g),
            output_embedding=torch.randn(1, s, d, generator=g),
            mask_query=torch.ones(1, s),
        )

    def extra_deploy_graphs(self) -> dict[str, tuple[nn.Module, dict[str, torch.Tensor]]]:
        """The graphs deployed beside the base one (:meth:`deploy_forward`): name ->
        ``(module called with a dict of named inputs, example inputs)``. MOTR: ``qim``, the
        query interaction module on the track slots (:class:`MotrQim`, sharing this model's
        ``track_embed``)."""
        from hat.models.structures.motr_qim import MotrQim

        return {"qim": (MotrQim(self.track_embed), self.qim_example_inputs())}

    def deploy_output_lsb(self, scales: Mapping[str, float]) -> list[float | None]:
        """The LSB of each deployed output (``pred_logits``, ``pred_boxes``, ``hs``) from the
        scales entering the DeQuantStubs (class logits: a float high-precision output)."""
        last = len(self.head.box_dequant) - 1
        return [None, scales.get(f"head.box_dequant.{last}"), scales.get("head.hs_dequant")]

    # -- quantization ----------------------------------------------------------------------------
    def fuse_model(self) -> None:
        """Delegates to the backbone (the quantizer does the actual Conv-BN fusion)."""
        if hasattr(self.backbone, "fuse_model"):
            self.backbone.fuse_model()

    def set_qconfig(self) -> None:
        """HAT's default qconfig on the whole tracker, then the backbone's and head's own
        overrides. The query interaction module is quantized with it (its stubs make it a
        quantized region; deployed it is the second graph, ``MotrQim``); the criterion and
        the post-processing stay float."""
        from hat.quantization import default_set_qconfig

        default_set_qconfig(self)
        self.head.qconfig = self.qconfig
        for m in (self.backbone, self.head):
            if hasattr(m, "set_qconfig"):
                m.set_qconfig()
        for part in (self.criterion, self.post_process):
            if isinstance(part, nn.Module):
                part.qconfig = None

    def deploy_forward(
        self,
        img: torch.Tensor,
        query_pos: torch.Tensor,
        mask_query: torch.Tensor,
        ref_pts: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The deployed base model: one frame and its queries (detect queries then the track
        slots, ``mask_query`` 1 for a valid query) -> ``pred_logits``, ``pred_boxes``, ``hs``.
        The runtime tracker and the QIM update run after it (post-processing)."""
        if img.dim() != 4 or img.shape[0] != 1:
            raise ValueError(f"Motr: deploy img must be (1, 3, H, W), got {tuple(img.shape)}")
        nq = int(self.head.num_queries) + self.max_track_slots
        expected = {"query_pos": (1, nq, 2 * self.d_model), "mask_query": (1, nq),
                    "ref_pts": (1, nq, 2)}  # fmt: skip
        for name, value in (("query_pos", query_pos), ("mask_query", mask_query),
                            ("ref_pts", ref_pts)):  # fmt: skip
            if tuple(value.shape) != expected[name]:
                raise ValueError(
                    f"Motr: deploy {name} must be {expected[name]} ({self.head.num_queries} "
                    f"detect queries + {self.max_track_slots} track slots), got "
                    f"{tuple(value.shape)}"
                )
        out = self._head(self.image_feature(img), query_pos, ref_pts, mask_query > 0.5)
        return {k: out[k] for k in ("pred_logits", "pred_boxes", "hs")}

    def forward(self, data: Mapping[str, Any]) -> Any:
        if self.training:
            return self._forward_train(data)
        with torch.no_grad():
            if isinstance(data, Mapping) and "query_pos" in data:
                return self.deploy_forward(
                    data["img"], data["query_pos"], data["mask_query"], data["ref_pts"]
                )
            return self._forward_eval(data)
