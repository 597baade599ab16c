"""Settings of the nuScenes detection benchmark (nuscenes-devkit's ``DetectionConfig``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hat.errors import UserInputError

__all__ = [
    "DETECTION_NAMES",
    "TP_METRICS",
    "TP_METRIC_EXCEPTIONS",
    "DetectionConfig",
    "CVPR_2019",
]

# The devkit's class order (its config files list ``class_range`` in this order; tables and
# means follow it). HAT's label order is ``hat.data.readers.nuscenes_constants.DETECTION_CLASSES``.
DETECTION_NAMES = (
    "car",
    "truck",
    "bus",
    "trailer",
    "construction_vehicle",
    "pedestrian",
    "motorcycle",
    "bicycle",
    "traffic_cone",
    "barrier",
)

# The true-positive errors: translation (m), scale (1 - IoU), orientation (rad), velocity (m/s),
# attribute (1 - accuracy).
TP_METRICS = ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err")

# TP errors a class does not have (NaN, left out of the class means): cones have no heading,
# velocity or attribute; barriers no velocity or attribute.
TP_METRIC_EXCEPTIONS = {
    "traffic_cone": frozenset({"attr_err", "vel_err", "orient_err"}),
    "barrier": frozenset({"attr_err", "vel_err"}),
}

# The benchmark's configuration (the devkit's ``configs/detection_cvpr_2019.json``).
CVPR_2019: dict[str, Any] = {
    "class_range": {
        "car": 50,
        "truck": 50,
        "bus": 50,
        "trailer": 50,
        "construction_vehicle": 50,
        "pedestrian": 40,
        "motorcycle": 40,
        "bicycle": 40,
        "traffic_cone": 30,
        "barrier": 30,
    },
    "dist_fcn": "center_distance",
    "dist_ths": [0.5, 1.0, 2.0, 4.0],
    "dist_th_tp": 2.0,
    "min_recall": 0.1,
    "min_precision": 0.1,
    "max_boxes_per_sample": 500,
    "mean_ap_weight": 5,
}

_KEYS = tuple(CVPR_2019)


@dataclass(frozen=True)
class DetectionConfig:
    """Evaluation settings; :meth:`from_dict` checks them as the devkit does, with errors
    naming the key.

    ``class_range`` maps every detection class to the largest ego distance (m, in the xy plane)
    at which its boxes are evaluated; its key order is the class order of tables and means.
    """

    class_range: Mapping[str, float]
    dist_fcn: str
    dist_ths: tuple[float, ...]
    dist_th_tp: float
    min_recall: float
    min_precision: float
    max_boxes_per_sample: int
    mean_ap_weight: float

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.class_range)

    @classmethod
    def cvpr_2019(cls) -> DetectionConfig:
        """The official benchmark settings (``detection_cvpr_2019``)."""
        return cls.from_dict(CVPR_2019, "detection_cvpr_2019")

    @classmethod
    def from_json(cls, path: str | Path) -> DetectionConfig:
        """Settings from a devkit-style JSON config file."""
        try:
            content = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise UserInputError(f"detection config {path}: no such file") from None
        except json.JSONDecodeError as exc:
            raise UserInputError(f"detection config {path}: not valid JSON ({exc})") from None
        return cls.from_dict(content, str(path))

    @classmethod
    def from_dict(cls, content: Mapping[str, Any], source: str = "config") -> DetectionConfig:
        if not isinstance(content, Mapping):
            raise UserInputError(f"{source}: expected a JSON object with keys {list(_KEYS)}")
        missing = [k for k in _KEYS if k not in content]
        if missing:
            raise UserInputError(f"{source}: missing key(s) {missing}")
        ranges = content["class_range"]
        if not isinstance(ranges, Mapping) or set(ranges) != set(DETECTION_NAMES):
            got = sorted(ranges) if isinstance(ranges, Mapping) else type(ranges).__name__
            raise UserInputError(
                f"{source}: 'class_range' must have exactly the classes {list(DETECTION_NAMES)}, "
                f"got {got}"
            )
        if content["dist_fcn"] != "center_distance":
            raise UserInputError(
                f"{source}: 'dist_fcn' {content['dist_fcn']!r} is not supported; "
                "expected 'center_distance'"
            )
        dist_ths = tuple(float(t) for t in content["dist_ths"])
        dist_th_tp = float(content["dist_th_tp"])
        if dist_th_tp not in dist_ths:
            raise UserInputError(f"{source}: 'dist_th_tp' {dist_th_tp} is not in 'dist_ths'")
        min_recall, min_precision = float(content["min_recall"]), float(content["min_precision"])
        if not 0 <= min_recall <= 1 or not 0 <= min_precision < 1:
            raise UserInputError(
                f"{source}: expected 0 <= 'min_recall' <= 1 and 0 <= 'min_precision' < 1, got "
                f"{min_recall} and {min_precision}"
            )
        for name, value in ranges.items():
            if not isinstance(value, (int, float)) or math.isnan(value):
                raise UserInputError(f"{source}: 'class_range.{name}' must be a number")
        return cls(
            class_range=dict(ranges),
            dist_fcn="center_distance",
            dist_ths=dist_ths,
            dist_th_tp=dist_th_tp,
            min_recall=min_recall,
            min_precision=min_precision,
            max_boxes_per_sample=int(content["max_boxes_per_sample"]),
            mean_ap_weight=content["mean_ap_weight"],
        )

    def serialize(self) -> dict[str, Any]:
        """The settings as the devkit writes them into ``metrics_summary.json``."""
        return {
            "class_range": dict(self.class_range),
            "dist_fcn": self.dist_fcn,
            "dist_ths": list(self.dist_ths),
            "dist_th_tp": self.dist_th_tp,
            "min_recall": self.min_recall,
            "min_precision": self.min_precision,
            "max_boxes_per_sample": self.max_boxes_per_sample,
            "mean_ap_weight": self.mean_ap_weight,
        }
