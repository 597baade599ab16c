"""``CenterPoint3dDecoder``: CenterPoint head outputs -> scored ego-frame 3D boxes per sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from hat.models.task_modules.centerpoint.nms import circle_nms, rotate_nms
from hat.models.task_modules.centerpoint.target import bev_grid_cell
from hat.models.task_modules.centerpoint.tasks import parse_tasks
from hat.registry import OBJECT_REGISTRY

__all__ = ["CenterPoint3dDecoder"]

_NMS_TYPES = ("rotate", "circle")


def _per_task(value, n: int, name: str, cast) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"CenterPoint3dDecoder: {name} has {len(value)} entries for {n} tasks")
        return [cast(v) for v in value]
    return [cast(value)] * n


@OBJECT_REGISTRY.register
class CenterPoint3dDecoder:
    """Decodes :class:`CenterPoint3dHead` outputs into boxes (CenterPoint's test-time decode).

    Per task: sigmoid heatmap; with ``use_max_pool`` only local maxima of a
    ``max_pool_kernel`` window stay (the rest scored 0); the ``pre_max_size`` best
    (class, cell) pairs; those with score >= ``score_threshold``; boxes ``x = (col + reg_x) *
    cell - x_range``, ``y = (row + reg_y) * cell - y_range``, ``z = height``, sizes ``exp(dim)``
    (``norm_bbox``), ``yaw = atan2(sin, cos)``, ``vx, vy = vel`` (0 without a ``vel`` output);
    then the task's NMS (``"rotate"``: rotated BEV IoU > ``nms_threshold``; ``"circle"``:
    CenterPoint's circle NMS with ``min_radius``, see :func:`circle_nms`) keeping at most
    ``post_max_size`` boxes.

    Args:
        class_names: the dataset's classes (labels index them).
        tasks: HAT's task groups, as the head's.
        bev_size: ``(x_range_m, y_range_m, res_m)``.
        out_size_factor: BEV cells per heatmap cell.
        use_max_pool, max_pool_kernel: peak picking.
        score_threshold: lowest kept score.
        nms_type: ``"rotate"`` / ``"circle"`` / ``None`` (no NMS), one or one per task.
        min_radius: circle-NMS threshold (squared metres), one or one per task.
        nms_threshold: rotate-NMS IoU threshold, one or one per task.
        decode_to_ego: ``x, y`` in ego metres (else in heatmap cells: column, row).
        pre_max_size: candidates per task before NMS.
        post_max_size: boxes kept per task after NMS (one or one per task).
        norm_bbox: the ``dim`` output holds log sizes (as the target's ``norm_bbox``).

    ``__call__(head_out)``: the head's list of per-task dicts (tensors ``(B, ., H, W)``).
    Returns B dicts ``{"bboxes": (M, 9) x, y, z, w, l, h, yaw, vx, vy, "scores": (M,),
    "labels": (M,) int64}`` (``NuscenesMetric.update``'s outputs), tasks concatenated in order,
    each by descending score, on the heatmap's device.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        tasks: Sequence[Mapping],
        bev_size: Sequence[float] = (51.2, 51.2, 0.8),
        out_size_factor: int = 1,
        use_max_pool: bool = True,
        max_pool_kernel: int = 3,
        score_threshold: float = 0.1,
        nms_type: str | Sequence[str | None] | None = "rotate",
        min_radius: float | Sequence[float] = 1.0,
        nms_threshold: float | Sequence[float] = 0.2,
        decode_to_ego: bool = True,
        pre_max_size: int = 1000,
        post_max_size: int | Sequence[int] = 83,
        norm_bbox: bool = True,
    ) -> None:
        self.class_names = [str(c) for c in class_names]
        self.tasks = parse_tasks(tasks, self.class_names)
        n = len(self.tasks)
        self.bev_size = tuple(float(v) for v in bev_size)
        self.out_size_factor = int(out_size_factor)
        if use_max_pool and (max_pool_kernel < 1 or max_pool_kernel % 2 == 0):
            raise ValueError(f"max_pool_kernel must be odd and >= 1, got {max_pool_kernel}")
        self.use_max_pool = bool(use_max_pool)
        self.max_pool_kernel = int(max_pool_kernel)
        self.score_threshold = float(score_threshold)
        self.nms_type = _per_task(nms_type, n, "nms_type", lambda v: v)
        bad = [v for v in self.nms_type if v is not None and v not in _NMS_TYPES]
        if bad:
            raise ValueError(f"nms_type entries must be one of {_NMS_TYPES} or None, got {bad}")
        self.min_radius = _per_task(min_radius, n, "min_radius", float)
        self.nms_threshold = _per_task(nms_threshold, n, "nms_threshold", float)
        self.decode_to_ego = bool(decode_to_ego)
        if pre_max_size < 1:
            raise ValueError(f"pre_max_size must be >= 1, got {pre_max_size}")
        self.pre_max_size = int(pre_max_size)
        self.post_max_size = _per_task(post_max_size, n, "post_max_size", int)
        self.norm_bbox = bool(norm_bbox)

    @torch.no_grad()
    def __call__(self, head_out: Sequence[Mapping[str, torch.Tensor]]) -> list[dict]:
        if len(head_out) != len(self.tasks):
            raise ValueError(
                f"CenterPoint3dDecoder: {len(head_out)} task outputs for {len(self.tasks)} tasks"
            )
        per_task = [self._decode_task(t, out) for t, out in enumerate(head_out)]
        results = []
        for i in range(len(per_task[0])):
            parts = [p[i] for p in per_task]
            results.append({k: torch.cat([p[k] for p in parts]) for k in parts[0]})
        return results

    def _decode_task(self, t: int, out: Mapping[str, torch.Tensor]) -> list[dict]:
        for key in ("heatmap", "reg", "height", "dim", "rot"):
            if key not in out:
                raise KeyError(
                    f"CenterPoint3dDecoder: task {t} output has no {key!r} (keys: {sorted(out)})"
                )
        heat = out["heatmap"].float().sigmoid()
        b, c, h, w = heat.shape
        x_range, y_range, cell = bev_grid_cell(self.bev_size, self.out_size_factor, (h, w))
        if self.use_max_pool:
            k = self.max_pool_kernel
            peak = F.max_pool2d(heat, k, stride=1, padding=k // 2)
            heat = heat * (heat == peak)
        k = min(self.pre_max_size, c * h * w)
        scores, idx = heat.reshape(b, -1).topk(k, dim=1)
        cls, pix = idx // (h * w), idx % (h * w)
        rows, cols = (pix // w).float(), (pix % w).float()

        def gather(name: str) -> torch.Tensor:
            v = out[name].float().reshape(b, out[name].shape[1], -1)
            return v.gather(2, pix[:, None, :].expand(-1, v.shape[1], -1)).transpose(1, 2)

        reg, height, dim, rot = gather("reg"), gather("height"), gather("dim"), gather("rot")
        vel = gather("vel") if "vel" in out else torch.zeros_like(reg)
        xs, ys = cols + reg[..., 0], rows + reg[..., 1]
        if self.decode_to_ego:
            xs, ys = xs * cell - x_range, ys * cell - y_range
        sizes = dim.exp() if self.norm_bbox else dim
        yaw = torch.atan2(rot[..., 0], rot[..., 1])
        boxes = torch.cat([xs[..., None], ys[..., None], height, sizes, yaw[..., None], vel], -1)
        ids = torch.as_tensor(self.tasks[t].class_ids, dtype=torch.int64, device=heat.device)
        results = []
        for i in range(b):
            sel = scores[i] >= self.score_threshold
            bx, sc, lb = boxes[i][sel], scores[i][sel], ids[cls[i][sel]]
            keep = self._nms(t, bx, sc).to(bx.device)
            results.append({"bboxes": bx[keep], "scores": sc[keep], "labels": lb[keep]})
        return results

    def _nms(self, t: int, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        kind, post = self.nms_type[t], self.post_max_size[t]
        if not self.decode_to_ego:  # NMS thresholds are in metres
            cell = self.bev_size[2] * self.out_size_factor
            boxes = torch.cat([boxes[:, :2] * cell, boxes[:, 2:]], 1)
        if kind == "rotate":
            return rotate_nms(boxes, scores, self.nms_threshold[t], post)
        if kind == "circle":
            return circle_nms(boxes, scores, self.min_radius[t], post)
        order = torch.argsort(scores.cpu(), descending=True, stable=True)
        return order[:post]
