"""``CenterPoint3dTarget``: CenterPoint's gaussian heatmaps and box codes from ego-frame boxes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from hat.models.task_modules.centerpoint.gaussian import draw_heatmap_gaussian, gaussian_radius
from hat.models.task_modules.centerpoint.tasks import parse_tasks
from hat.registry import OBJECT_REGISTRY

__all__ = ["CODE_SIZE", "CenterPoint3dTarget", "bev_grid_cell"]

CODE_SIZE = 10


def bev_grid_cell(
    bev_size: Sequence[float], out_size_factor: int, feat_hw: Sequence[int]
) -> tuple[float, float, float]:
    """``(x_range, y_range, cell)`` of a BEV feature map ``feat_hw = (H, W)``.

    ``bev_size = (x_range, y_range, res)``: the map covers ``[-x_range, x_range)`` in columns
    and ``[-y_range, y_range)`` in rows with cells of ``res * out_size_factor`` metres.
    Raises ``ValueError`` when ``feat_hw`` is not that grid.
    """
    if len(bev_size) != 3:
        raise ValueError(f"bev_size must be (x_range_m, y_range_m, res_m), got {bev_size}")
    x_range, y_range, res = (float(v) for v in bev_size)
    cell = res * int(out_size_factor)
    expect = (round(2 * y_range / cell), round(2 * x_range / cell))
    if tuple(int(v) for v in feat_hw) != expect:
        raise ValueError(
            f"feature map {tuple(feat_hw)} does not match bev_size={tuple(bev_size)} with "
            f"out_size_factor={out_size_factor}: expected (H, W) = {expect}"
        )
    return x_range, y_range, cell


@OBJECT_REGISTRY.register
class CenterPoint3dTarget:
    """CenterPoint training targets on the BEV grid.

    Args:
        class_names: the dataset's classes (``gt_labels`` index them).
        tasks: HAT's task groups (``dict(name, num_class, class_names)``).
        gaussian_overlap: ``min_overlap`` of :func:`gaussian_radius`.
        min_radius: smallest gaussian radius in cells.
        out_size_factor: BEV cells per feature-map cell.
        norm_bbox: code sizes as ``log(w), log(l), log(h)`` (else metres).
        max_num: boxes kept per task and sample (the rest are ignored).
        bbox_weight: the 10 code weights of the regression loss (:meth:`box_weights`).
        bev_size: ``(x_range_m, y_range_m, res_m)``.

    ``__call__(gt_boxes, gt_labels, feat_hw)``: ``gt_boxes`` a list of B ``(N, 9)`` ego-frame
    boxes ``x, y, z, w, l, h, yaw, vx, vy``, ``gt_labels`` B ``(N,)`` class indexes,
    ``feat_hw = (H, W)``. Returns ``(heatmaps, anno_boxes, inds, masks)``:

    * ``heatmaps``: one ``(B, n_cls, H, W)`` float tensor per task, the max of the boxes'
      gaussians (peak 1 at the centre cell ``floor((x + x_range) / cell)``,
      ``floor((y + y_range) / cell)``, radius ``max(min_radius, int(gaussian_radius((l, w) in
      cells, gaussian_overlap)))``);
    * ``anno_boxes``: ``(B, T, max_num, 10)`` codes ``dx, dy`` (centre minus its cell's corner,
      in cells, in [0, 1)), ``z``, sizes, ``sin yaw``, ``cos yaw``, ``vx``, ``vy``;
    * ``inds``: ``(B, T, max_num)`` int64 flat index ``row * W + col`` of each box's cell;
    * ``masks``: ``(B, T, max_num)`` uint8, 1 for a box (slot ``k`` is the task's ``k``-th box
      in ``gt_boxes`` order; boxes outside the grid or with a size <= 0 leave a 0).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        tasks: Sequence[Mapping],
        gaussian_overlap: float = 0.1,
        min_radius: int = 2,
        out_size_factor: int = 1,
        norm_bbox: bool = True,
        max_num: int = 500,
        bbox_weight: Sequence[float] | None = None,
        bev_size: Sequence[float] = (51.2, 51.2, 0.8),
    ) -> None:
        self.class_names = [str(c) for c in class_names]
        self.tasks = parse_tasks(tasks, self.class_names)
        if not 0.0 < gaussian_overlap < 1.0:
            raise ValueError(f"gaussian_overlap must be in (0, 1), got {gaussian_overlap}")
        if max_num < 1:
            raise ValueError(f"max_num must be >= 1, got {max_num}")
        self.gaussian_overlap = float(gaussian_overlap)
        self.min_radius = int(min_radius)
        self.out_size_factor = int(out_size_factor)
        self.norm_bbox = bool(norm_bbox)
        self.max_num = int(max_num)
        weight = [1.0] * CODE_SIZE if bbox_weight is None else [float(w) for w in bbox_weight]
        if len(weight) != CODE_SIZE:
            raise ValueError(f"bbox_weight needs {CODE_SIZE} code weights, got {len(weight)}")
        self.bbox_weight = torch.tensor(weight, dtype=torch.float32)
        self.bev_size = tuple(float(v) for v in bev_size)
        # dataset class index -> (task, index inside the task)
        self._where = {
            c: (t, k) for t, task in enumerate(self.tasks) for k, c in enumerate(task.class_ids)
        }

    def __call__(
        self,
        gt_boxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        feat_hw: Sequence[int],
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        if len(gt_boxes) != len(gt_labels):
            raise ValueError(
                f"CenterPoint3dTarget: {len(gt_boxes)} gt_boxes for {len(gt_labels)} gt_labels"
            )
        h, w = (int(v) for v in feat_hw)
        x_range, y_range, cell = bev_grid_cell(self.bev_size, self.out_size_factor, (h, w))
        b, t_num, m = len(gt_boxes), len(self.tasks), self.max_num
        device = gt_boxes[0].device if b else torch.device("cpu")
        heatmaps = [torch.zeros(b, task.num_class, h, w) for task in self.tasks]
        anno = torch.zeros(b, t_num, m, CODE_SIZE)
        inds = torch.zeros(b, t_num, m, dtype=torch.int64)
        masks = torch.zeros(b, t_num, m, dtype=torch.uint8)
        for i, (boxes, labels) in enumerate(zip(gt_boxes, gt_labels)):
            boxes = torch.as_tensor(boxes).detach().to("cpu", torch.float64).reshape(-1, 9)
            labels = torch.as_tensor(labels).detach().to("cpu", torch.int64).reshape(-1)
            if len(boxes) != len(labels):
                raise ValueError(
                    f"CenterPoint3dTarget: sample {i} has {len(boxes)} boxes and "
                    f"{len(labels)} labels"
                )
            counts = [0] * t_num
            for box, label in zip(boxes.tolist(), labels.tolist()):
                if label not in self._where:
                    if not 0 <= label < len(self.class_names):
                        raise ValueError(
                            f"CenterPoint3dTarget: gt_labels value {label} is not an index into "
                            f"{len(self.class_names)} class_names"
                        )
                    continue  # a class no task predicts
                t, k = self._where[label]
                slot = counts[t]
                if slot >= m:
                    continue
                counts[t] += 1
                self._encode(
                    box,
                    k,
                    heatmaps[t][i],
                    anno[i, t, slot],
                    inds[i, t],
                    masks[i, t],
                    slot,
                    (x_range, y_range, cell, w, h),
                )
        return (
            [hm.to(device) for hm in heatmaps],
            anno.to(device),
            inds.to(device),
            masks.to(device),
        )

    def _encode(self, box, k, heatmap, code, inds, masks, slot, grid) -> None:
        x_range, y_range, cell, w, h = grid
        x, y, z, bw, bl, bh, yaw, vx, vy = box
        if not (bw > 0 and bl > 0):
            return
        cx, cy = (x + x_range) / cell, (y + y_range) / cell
        ix, iy = math.floor(cx), math.floor(cy)
        if not (0 <= ix < w and 0 <= iy < h):
            return
        radius = gaussian_radius((bl / cell, bw / cell), self.gaussian_overlap)
        radius = max(self.min_radius, int(radius))
        draw_heatmap_gaussian(heatmap[k], (ix, iy), radius)
        inds[slot] = iy * w + ix
        masks[slot] = 1
        if self.norm_bbox:
            sizes = [math.log(bw), math.log(bl), math.log(bh) if bh > 0 else float("nan")]
        else:
            sizes = [bw, bl, bh]
        code.copy_(
            torch.tensor([cx - ix, cy - iy, z, *sizes, math.sin(yaw), math.cos(yaw), vx, vy])
        )

    def box_weights(self, anno_boxes: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``(..., max_num, 10)`` weights of the regression loss: the box mask times
        ``bbox_weight``, 0 where a code is NaN (e.g. an unknown velocity), as CenterPoint."""
        weight = masks.unsqueeze(-1).to(anno_boxes.dtype) * (~torch.isnan(anno_boxes))
        return weight * self.bbox_weight.to(anno_boxes.device, anno_boxes.dtype)
