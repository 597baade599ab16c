"""Which boxes the nuScenes benchmark evaluates (the devkit's ``add_center_dist`` and
``filter_eval_boxes``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hat.metrics.nuscenes.boxes import CLASS_INDEX, EvalBoxes
from hat.metrics.nuscenes.config import DETECTION_NAMES
from hat.metrics.nuscenes.geometry import points_in_box

__all__ = ["FilterCounts", "add_center_dist", "filter_eval_boxes"]

_CYCLES = np.array([CLASS_INDEX["bicycle"], CLASS_INDEX["motorcycle"]])


@dataclass(frozen=True)
class FilterCounts:
    """Boxes left after each filter, as the devkit prints them."""

    total: int
    after_distance: int
    after_points: int
    after_bike_racks: int


def add_center_dist(boxes: EvalBoxes, ego_translation: np.ndarray) -> EvalBoxes:
    """Set ``boxes.ego_dist``: the xy distance from each box centre to the ego position of its
    sample (``ego_translation (S, 3)``, global, in ``boxes.sample_tokens`` order; the devkit
    takes the ego pose of the sample's LIDAR_TOP key frame)."""
    ego = np.asarray(ego_translation, dtype=np.float64).reshape(-1, 3)
    if len(ego) != len(boxes.sample_tokens):
        raise ValueError(
            f"add_center_dist: {len(ego)} ego positions for {len(boxes.sample_tokens)} samples"
        )
    d = boxes.translation[:, :2] - ego[boxes.sample, :2]
    boxes.ego_dist = np.sqrt(np.sum(d**2, axis=1))
    return boxes


def filter_eval_boxes(
    boxes: EvalBoxes,
    class_range: Mapping[str, float],
    bike_racks: Sequence[np.ndarray] | None = None,
) -> tuple[EvalBoxes, FilterCounts]:
    """Keep the boxes the benchmark evaluates, in three steps as the devkit:

    1. ``ego_dist < class_range[class]`` (call :func:`add_center_dist` first);
    2. ``num_pts != 0`` (ground truth seen by no lidar or radar point is dropped; predictions
       carry -1 unless the submission gives ``num_pts``);
    3. bicycles and motorcycles whose centre lies in a bike rack of their sample.

    ``bike_racks``: per sample (``boxes.sample_tokens`` order), a ``(K, 10)`` array of the
    sample's ``static_object.bicycle_rack`` annotations (x, y, z, w, l, h, qw, qx, qy, qz,
    global); None: no rack anywhere.
    """
    if np.isnan(boxes.ego_dist).any():
        raise ValueError("filter_eval_boxes: call add_center_dist first")
    ranges = np.array([float(class_range[n]) for n in DETECTION_NAMES])
    total = len(boxes)
    boxes = boxes.subset(boxes.ego_dist < ranges[boxes.name])
    after_distance = len(boxes)
    boxes = boxes.subset(boxes.num_pts != 0)
    after_points = len(boxes)
    if bike_racks is not None:
        if len(bike_racks) != len(boxes.sample_tokens):
            raise ValueError(
                f"filter_eval_boxes: {len(bike_racks)} bike-rack lists for "
                f"{len(boxes.sample_tokens)} samples"
            )
        keep = np.ones(len(boxes), dtype=bool)
        cycles = np.flatnonzero(np.isin(boxes.name, _CYCLES))
        for s in np.unique(boxes.sample[cycles]):
            racks = np.asarray(bike_racks[s], dtype=np.float64).reshape(-1, 10)
            idx = cycles[boxes.sample[cycles] == s]
            for rack in racks:
                keep[idx] &= ~points_in_box(rack[:3], rack[3:6], rack[6:], boxes.translation[idx])
        boxes = boxes.subset(keep)
    return boxes, FilterCounts(total, after_distance, after_points, len(boxes))
