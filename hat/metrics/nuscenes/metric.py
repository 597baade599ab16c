"""``NuscenesMetric``: the nuScenes detection benchmark (mAP, NDS) over a whole split, fed with
batches and model outputs, synchronised across DDP ranks."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hat.data.readers.nuscenes_constants import DETECTION_CLASSES
from hat.metrics.metric import EvalMetric
from hat.metrics.nuscenes.boxes import ATTRIBUTE_INDEX, CLASS_INDEX, EvalBoxes
from hat.metrics.nuscenes.config import DetectionConfig
from hat.metrics.nuscenes.evaluate import DetectionResults, filter_and_evaluate, format_results
from hat.metrics.nuscenes.geometry import matrix_to_quaternion
from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import all_gather_object

__all__ = ["NuscenesMetric", "default_attributes", "predictions_to_global"]

logger = logging.getLogger(__name__)

# The attribute given to a predicted box (mmdet3d's / HAT's rule for results files): moving
# when its speed exceeds 0.2 m/s, else the class's resting attribute.
_DEFAULT_ATTRIBUTE = {
    "car": "vehicle.parked",
    "pedestrian": "pedestrian.moving",
    "trailer": "vehicle.parked",
    "truck": "vehicle.parked",
    "bus": "vehicle.moving",
    "motorcycle": "cycle.without_rider",
    "construction_vehicle": "vehicle.parked",
    "bicycle": "cycle.without_rider",
    "barrier": "",
    "traffic_cone": "",
}
_VEHICLES = ("car", "construction_vehicle", "bus", "truck", "trailer")


def default_attributes(names: Sequence[str], speed: np.ndarray) -> list[str]:
    """The attribute of each predicted box from its class and speed (m/s)."""
    out = []
    for name, v in zip(names, speed):
        if v > 0.2:
            if name in _VEHICLES:
                attr = "vehicle.moving"
            elif name in ("bicycle", "motorcycle"):
                attr = "cycle.with_rider"
            else:
                attr = _DEFAULT_ATTRIBUTE[name]
        elif name == "pedestrian":
            attr = "pedestrian.standing"
        elif name == "bus":
            attr = "vehicle.stopped"
        else:
            attr = _DEFAULT_ATTRIBUTE[name]
        out.append(attr)
    return out


def _numpy(x: Any, dtype: type = np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def predictions_to_global(bboxes: np.ndarray, ego2global: np.ndarray) -> dict[str, np.ndarray]:
    """Global ``translation``, ``rotation`` (w, x, y, z) and ``velocity`` of ``(M, 9)`` ego-frame
    boxes ``x, y, z, w, l, h, yaw, vx, vy`` (the size stays ``w, l, h``)."""
    b = np.asarray(bboxes, dtype=np.float64).reshape(-1, 9)
    t = np.asarray(ego2global, dtype=np.float64).reshape(4, 4)
    r = t[:3, :3]
    cos, sin = np.cos(b[:, 6]), np.sin(b[:, 6])
    rz = np.zeros((len(b), 3, 3))  # rotation by the yaw about the ego z axis
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1], rz[:, 2, 2] = cos, -sin, sin, cos, 1.0
    vel = np.concatenate([b[:, 7:9], np.zeros((len(b), 1))], axis=1)
    return {
        "translation": b[:, :3] @ r.T + t[:3, 3],
        "size": b[:, 3:6],
        "rotation": matrix_to_quaternion(r[None] @ rz) if len(b) else np.zeros((0, 4)),
        "velocity": (vel @ r.T)[:, :2],
    }


def _at(batch: Mapping[str, Any], key: str, i: int) -> Any:
    if key not in batch:
        raise KeyError(f"NuscenesMetric: the batch has no {key!r} (keys: {sorted(batch)})")
    return batch[key][i]


@OBJECT_REGISTRY.register
class NuscenesMetric(EvalMetric):
    """nuScenes detection mAP and NDS, exactly as nuscenes-devkit's ``DetectionEval``.

    Args:
        name: the names of the two values, mAP then NDS.
        classes: class name of each label index of the predictions and ``gt_labels`` (HAT's
            order by default).
        config: the benchmark settings: None (``detection_cvpr_2019``), a dict or the path of
            a devkit-style JSON config.
        log_per_class: log the summary and per-class table whenever the value is computed.

    ``update(batch, outputs)``: ``outputs`` is a list (one per sample) of dicts with
    ``bboxes (M, 9)`` in the ego frame of the sample (x, y, z, w, l, h, yaw, vx, vy),
    ``scores (M,)``, ``labels (M,)``, and optionally ``attributes`` (M names; else each box
    gets the default attribute of its class and speed). ``batch`` holds per sample
    ``sample_token``, ``ego2global (4, 4)`` (LIDAR_TOP ego pose), ``gt_boxes_global (N, 9)``,
    ``gt_labels``, ``gt_attributes``, ``gt_num_lidar_pts``, ``gt_num_radar_pts`` and
    optionally ``gt_rotation_global (N, 4)`` (else the yaw), ``gt_velocity_valid`` (invalid
    velocities are unknown, as the devkit's NaN) and ``gt_bike_racks_global (K, 10)``
    (x, y, z, w, l, h, qw, qx, qy, qz; bicycles and motorcycles in them are not evaluated).

    Predictions are turned to global boxes; the highest-scoring ``max_boxes_per_sample`` of a
    sample are kept. :meth:`get` gathers the samples of all ranks (a sample seen twice, as a
    padded distributed sampler does, counts once) and runs the benchmark; every rank gets the
    result.
    """

    def __init__(
        self,
        name: Sequence[str] = ("mAP", "NDS"),
        classes: Sequence[str] = DETECTION_CLASSES,
        config: str | Path | Mapping[str, Any] | None = None,
        log_per_class: bool = True,
    ) -> None:
        super().__init__([str(n) for n in name])
        if len(self.name) != 2:
            raise ValueError(f"NuscenesMetric: name must give 2 names (mAP, NDS), got {name}")
        unknown = [c for c in classes if c not in CLASS_INDEX]
        if unknown:
            raise ValueError(f"NuscenesMetric: unknown classes {unknown}; expected nuScenes' 10")
        self.classes = tuple(classes)
        self._label_to_class = np.array([CLASS_INDEX[c] for c in self.classes], dtype=np.int64)
        if config is None:
            self.cfg = DetectionConfig.cvpr_2019()
        elif isinstance(config, Mapping):
            self.cfg = DetectionConfig.from_dict(config, "NuscenesMetric config")
        else:
            self.cfg = DetectionConfig.from_json(config)
        self.log_per_class = log_per_class
        self._samples: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        self._samples = {}

    def _labels(self, labels: Any, what: str) -> np.ndarray:
        lab = _numpy(labels, np.int64).reshape(-1)
        bad = (lab < 0) | (lab >= len(self.classes))
        if bad.any():
            raise ValueError(
                f"NuscenesMetric: {what} label(s) {sorted(set(lab[bad].tolist()))} outside "
                f"[0, {len(self.classes)})"
            )
        return lab

    def _gt(self, batch: Mapping[str, Any], i: int) -> dict[str, np.ndarray]:
        boxes = _numpy(_at(batch, "gt_boxes_global", i)).reshape(-1, 9)
        n = len(boxes)
        labels = self._labels(_at(batch, "gt_labels", i), "gt")
        if "gt_rotation_global" in batch:
            rotation = _numpy(batch["gt_rotation_global"][i]).reshape(-1, 4)
        else:
            half = boxes[:, 6] / 2
            rotation = np.stack([np.cos(half), 0 * half, 0 * half, np.sin(half)], axis=1)
        velocity = boxes[:, 7:9].copy()
        if "gt_velocity_valid" in batch:
            valid = _numpy(batch["gt_velocity_valid"][i], bool).reshape(-1)
            velocity[~valid] = np.nan
        attrs = list(_at(batch, "gt_attributes", i))
        unknown = sorted({a for a in attrs if a not in ATTRIBUTE_INDEX})
        if unknown:
            raise ValueError(f"NuscenesMetric: unknown gt attribute(s) {unknown}")
        num_pts = _numpy(_at(batch, "gt_num_lidar_pts", i), np.int64).reshape(-1) + _numpy(
            _at(batch, "gt_num_radar_pts", i), np.int64
        ).reshape(-1)
        if not (len(labels) == len(attrs) == len(num_pts) == len(rotation) == n):
            raise ValueError(
                f"NuscenesMetric: sample {i} of the batch has {n} gt boxes but "
                f"{len(labels)} labels, {len(attrs)} attributes, {len(num_pts)} point counts"
            )
        return {
            "translation": boxes[:, :3],
            "size": boxes[:, 3:6],
            "rotation": rotation,
            "velocity": velocity,
            "name": self._label_to_class[labels],
            "attribute": np.array([ATTRIBUTE_INDEX[a] for a in attrs], dtype=np.int64),
            "num_pts": num_pts,
        }

    def _pred(self, out: Mapping[str, Any], ego2global: np.ndarray) -> dict[str, np.ndarray]:
        for key in ("bboxes", "scores", "labels"):
            if key not in out:
                raise KeyError(f"NuscenesMetric: an output has no {key!r} (keys: {sorted(out)})")
        bboxes = _numpy(out["bboxes"]).reshape(-1, 9)
        scores = _numpy(out["scores"]).reshape(-1)
        labels = self._labels(out["labels"], "predicted")
        if not len(bboxes) == len(scores) == len(labels):
            raise ValueError(
                f"NuscenesMetric: {len(bboxes)} bboxes, {len(scores)} scores, {len(labels)} labels"
            )
        names = [self.classes[k] for k in labels]
        if "attributes" in out:
            attrs = list(out["attributes"])
        else:
            attrs = default_attributes(names, np.hypot(bboxes[:, 7], bboxes[:, 8]))
        keep = np.argsort(-scores, kind="stable")[: self.cfg.max_boxes_per_sample]
        keep.sort()
        cols = predictions_to_global(bboxes[keep], ego2global)
        cols.update(
            name=self._label_to_class[labels[keep]],
            score=scores[keep],
            attribute=np.array([ATTRIBUTE_INDEX[attrs[k]] for k in keep], dtype=np.int64),
        )
        return cols

    @torch.no_grad()
    def update(self, batch: Mapping[str, Any], outputs: Sequence[Mapping[str, Any]]) -> None:
        tokens = list(batch["sample_token"]) if "sample_token" in batch else None
        if tokens is None:
            raise KeyError(f"NuscenesMetric: the batch has no 'sample_token' ({sorted(batch)})")
        if len(outputs) != len(tokens):
            raise ValueError(
                f"NuscenesMetric: {len(outputs)} outputs for a batch of {len(tokens)} samples"
            )
        for i, token in enumerate(tokens):
            ego2global = _numpy(_at(batch, "ego2global", i)).reshape(4, 4)
            racks = None
            if "gt_bike_racks_global" in batch:
                racks = _numpy(batch["gt_bike_racks_global"][i]).reshape(-1, 10)
            self._samples[str(token)] = {
                "ego": ego2global[:3, 3].copy(),
                "gt": self._gt(batch, i),
                "pred": self._pred(outputs[i], ego2global),
                "racks": racks if racks is not None else np.zeros((0, 10)),
            }

    def _evaluate(self, samples: Mapping[str, Mapping[str, Any]]) -> DetectionResults:
        tokens = list(samples)
        gt = EvalBoxes.from_samples(tokens, [samples[t]["gt"] for t in tokens])
        pred = EvalBoxes.from_samples(tokens, [samples[t]["pred"] for t in tokens])
        ego = np.array([samples[t]["ego"] for t in tokens]).reshape(-1, 3)
        racks = [samples[t]["racks"] for t in tokens]
        results, _ = filter_and_evaluate(gt, pred, ego, racks, self.cfg)
        if self.log_per_class:
            logger.info("\n%s", format_results(results))
        return results

    def _all_samples(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for part in all_gather_object(self._samples):
            for token, record in part.items():
                merged.setdefault(token, record)
        return merged

    def results(self) -> DetectionResults:
        """The full results (per-class APs and TP errors) over all ranks."""
        return self._evaluate(self._all_samples())

    def compute(self) -> list[float]:
        r = self._evaluate(self._samples)
        return [r.mean_ap, r.nd_score]

    def get(self) -> tuple[list[str], list[float]]:
        r = self.results()
        return self.name, [r.mean_ap, r.nd_score]
