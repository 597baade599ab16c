"""The nuScenes detection benchmark (mAP, TP errors, NDS) as nuscenes-devkit's
``DetectionEval`` defines it, in numpy: boxes, settings, filters, matching and summaries, the
raw-table ground truth loader and the submission-file reader."""

from hat.metrics.nuscenes.boxes import EvalBoxes
from hat.metrics.nuscenes.config import DETECTION_NAMES, TP_METRICS, DetectionConfig
from hat.metrics.nuscenes.evaluate import (
    DetectionResults,
    evaluate_detection,
    filter_and_evaluate,
    format_results,
)
from hat.metrics.nuscenes.metric import NuscenesMetric

__all__ = [
    "DETECTION_NAMES",
    "DetectionConfig",
    "DetectionResults",
    "EvalBoxes",
    "NuscenesMetric",
    "TP_METRICS",
    "evaluate_detection",
    "filter_and_evaluate",
    "format_results",
]
