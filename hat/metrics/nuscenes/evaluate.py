"""The nuScenes detection benchmark on ground truth and predictions already loaded: AP per
class and distance threshold, TP errors per class, mAP, mean TP errors and NDS (the devkit's
``DetectionEval.evaluate`` and ``DetectionMetrics``)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hat.errors import UserInputError
from hat.metrics.nuscenes.algo import MetricData, accumulate, calc_ap, calc_tp
from hat.metrics.nuscenes.boxes import CLASS_INDEX, EvalBoxes
from hat.metrics.nuscenes.config import TP_METRIC_EXCEPTIONS, TP_METRICS, DetectionConfig
from hat.metrics.nuscenes.filters import FilterCounts, add_center_dist, filter_eval_boxes

__all__ = [
    "DetectionResults",
    "align_samples",
    "evaluate_detection",
    "filter_and_evaluate",
    "format_results",
]

_ERR_NAMES = {
    "trans_err": "mATE",
    "scale_err": "mASE",
    "orient_err": "mAOE",
    "vel_err": "mAVE",
    "attr_err": "mAAE",
}


@dataclass
class DetectionResults:
    """AP per class and threshold, TP errors per class, and their summaries."""

    cfg: DetectionConfig
    label_aps: dict[str, dict[float, float]]
    label_tp_errors: dict[str, dict[str, float]]
    metric_data: dict[tuple[str, float], MetricData] = field(repr=False)
    eval_time: float = 0.0

    @property
    def mean_dist_aps(self) -> dict[str, float]:
        """Per class, AP averaged over the distance thresholds."""
        return {c: float(np.mean(list(d.values()))) for c, d in self.label_aps.items()}

    @property
    def mean_ap(self) -> float:
        return float(np.mean(list(self.mean_dist_aps.values())))

    @property
    def tp_errors(self) -> dict[str, float]:
        """Per TP metric, the mean over classes (NaN entries left out)."""
        return {
            m: float(np.nanmean([self.label_tp_errors[c][m] for c in self.cfg.class_names]))
            for m in TP_METRICS
        }

    @property
    def tp_scores(self) -> dict[str, float]:
        return {m: max(0.0, 1.0 - e) for m, e in self.tp_errors.items()}

    @property
    def nd_score(self) -> float:
        """NDS = (w * mAP + sum of the TP scores) / (w + 5), w = ``mean_ap_weight``."""
        w = self.cfg.mean_ap_weight
        total = float(w * self.mean_ap + np.sum(list(self.tp_scores.values())))
        return total / float(w + len(self.tp_scores))

    def serialize(self) -> dict[str, Any]:
        """What the devkit writes to ``metrics_summary.json`` (without ``meta``)."""
        return {
            "label_aps": {c: dict(d) for c, d in self.label_aps.items()},
            "mean_dist_aps": self.mean_dist_aps,
            "mean_ap": self.mean_ap,
            "label_tp_errors": {c: dict(d) for c, d in self.label_tp_errors.items()},
            "tp_errors": self.tp_errors,
            "tp_scores": self.tp_scores,
            "nd_score": self.nd_score,
            "eval_time": self.eval_time,
            "cfg": self.cfg.serialize(),
        }

    def serialize_details(self) -> dict[str, Any]:
        """What the devkit writes to ``metrics_details.json``."""
        return {f"{c}:{th}": md.serialize() for (c, th), md in self.metric_data.items()}


def align_samples(gt: EvalBoxes, pred: EvalBoxes) -> EvalBoxes:
    """``pred`` with its ``sample`` indices mapped onto ``gt.sample_tokens`` (box order kept).

    Both must hold exactly the same samples (the devkit asserts it); the error names the
    missing and the unexpected ones.
    """
    gt_pos = {t: i for i, t in enumerate(gt.sample_tokens)}
    pred_tokens = set(pred.sample_tokens)
    missing = [t for t in gt.sample_tokens if t not in pred_tokens]
    extra = [t for t in pred.sample_tokens if t not in gt_pos]
    if missing or extra:
        raise UserInputError(
            "the predictions' samples differ from the evaluated split's: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(extra)} not in the split "
            f"(e.g. {extra[:3]})"
        )
    remap = np.array([gt_pos[t] for t in pred.sample_tokens], dtype=np.int64)
    out = pred.subset(np.ones(len(pred), dtype=bool))
    out.sample = remap[pred.sample] if len(pred) else pred.sample
    out.sample_tokens = list(gt.sample_tokens)
    return out


def evaluate_detection(gt: EvalBoxes, pred: EvalBoxes, cfg: DetectionConfig) -> DetectionResults:
    """The benchmark on filtered boxes (see :mod:`hat.metrics.nuscenes.filters`).

    ``pred`` may list its samples in another order than ``gt``: the boxes keep their own order
    (the score tie-breaks of the devkit follow the predictions' order).
    """
    start = time.time()
    pred = align_samples(gt, pred)
    label_aps: dict[str, dict[float, float]] = {}
    label_tp: dict[str, dict[str, float]] = {}
    mds: dict[tuple[str, float], MetricData] = {}
    for class_name in cfg.class_names:
        period = np.pi if class_name == "barrier" else 2 * np.pi
        per_th = accumulate(gt, pred, CLASS_INDEX[class_name], cfg.dist_ths, period)
        for th, md in zip(cfg.dist_ths, per_th):
            mds[(class_name, th)] = md
        label_aps[class_name] = {
            th: calc_ap(mds[(class_name, th)], cfg.min_recall, cfg.min_precision)
            for th in cfg.dist_ths
        }
        md_tp = mds[(class_name, cfg.dist_th_tp)]
        excluded = TP_METRIC_EXCEPTIONS.get(class_name, frozenset())
        label_tp[class_name] = {
            m: math.nan if m in excluded else calc_tp(md_tp, cfg.min_recall, m) for m in TP_METRICS
        }
    return DetectionResults(cfg, label_aps, label_tp, mds, time.time() - start)


def filter_and_evaluate(
    gt: EvalBoxes,
    pred: EvalBoxes,
    ego_translation: np.ndarray,
    bike_racks: Sequence[np.ndarray] | None,
    cfg: DetectionConfig,
) -> tuple[DetectionResults, dict[str, FilterCounts]]:
    """The devkit's whole ``DetectionEval``: distances to the ego position of each sample
    (``(S, 3)`` in ``gt.sample_tokens`` order), the filters on both box sets, the benchmark.
    Also returns the filter counts of ``"gt"`` and ``"pred"``."""
    pred = align_samples(gt, pred)
    gt = add_center_dist(gt.subset(np.ones(len(gt), dtype=bool)), ego_translation)
    pred = add_center_dist(pred, ego_translation)
    gt, gt_counts = filter_eval_boxes(gt, cfg.class_range, bike_racks)
    pred, pred_counts = filter_eval_boxes(pred, cfg.class_range, bike_racks)
    return evaluate_detection(gt, pred, cfg), {"gt": gt_counts, "pred": pred_counts}


def format_results(results: DetectionResults) -> str:
    """mAP, the mean TP errors, NDS, and a per-class table (AP per distance threshold, mean
    AP and the TP errors)."""

    def num(v: float) -> str:
        return "nan" if math.isnan(v) else f"{v:.4f}"

    lines = [f"mAP: {num(results.mean_ap)}"]
    lines += [f"{_ERR_NAMES[m]}: {num(v)}" for m, v in results.tp_errors.items()]
    lines.append(f"NDS: {num(results.nd_score)}")
    ths = results.cfg.dist_ths
    header = [
        "Object Class",
        *(f"AP@{th:g}" for th in ths),
        "AP",
        "ATE",
        "ASE",
        "AOE",
        "AVE",
        "AAE",
    ]
    lines += ["", "Per-class results:", f"{header[0]:<22}" + "".join(f"{h:>8}" for h in header[1:])]
    mean_aps = results.mean_dist_aps
    for c in results.cfg.class_names:
        values = [results.label_aps[c][th] for th in ths] + [mean_aps[c]]
        values += [results.label_tp_errors[c][m] for m in TP_METRICS]
        lines.append(f"{c:<22}" + "".join(f"{v:>8.3f}" for v in values))
    return "\n".join(lines)
