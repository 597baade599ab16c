"""Matching, precision/recall curves and their summaries (the devkit's ``accumulate``,
``calc_ap`` and ``calc_tp``), vectorised over boxes.

Matching is greedy by descending score (ties: the later prediction first, as the devkit's
sort); each prediction takes the closest untaken ground truth box of its class and sample
(xy centre distance; ties: the first box) and is a true positive when that distance is below
the threshold. Every threshold is matched on the same distances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hat.metrics.nuscenes.boxes import EvalBoxes
from hat.metrics.nuscenes.geometry import angle_diff, quaternion_yaw

__all__ = ["MetricData", "accumulate", "calc_ap", "calc_tp", "cummean"]

NELEM = 101  # recall points 0, 0.01, ..., 1


@dataclass
class MetricData:
    """A class's precision, confidence and TP errors at 101 recall points (the devkit's
    ``DetectionMetricData``)."""

    recall: np.ndarray
    precision: np.ndarray
    confidence: np.ndarray
    trans_err: np.ndarray
    vel_err: np.ndarray
    scale_err: np.ndarray
    orient_err: np.ndarray
    attr_err: np.ndarray

    @classmethod
    def no_predictions(cls) -> MetricData:
        """No match at all: precision 0 and every error 1."""
        ones = np.ones(NELEM)
        return cls(
            np.linspace(0, 1, NELEM),
            np.zeros(NELEM),
            np.zeros(NELEM),
            ones,
            ones.copy(),
            ones.copy(),
            ones.copy(),
            ones.copy(),
        )

    @property
    def max_recall_ind(self) -> int:
        """Index of the last recall point with a non-zero confidence (0 if none)."""
        non_zero = np.nonzero(self.confidence)[0]
        return int(non_zero[-1]) if len(non_zero) else 0

    def serialize(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in self.__dataclass_fields__}


def cummean(x: np.ndarray) -> np.ndarray:
    """Running mean ignoring NaN (0 before the first value); all NaN: ones."""
    nan = np.isnan(x)
    if nan.sum() == len(x):
        return np.ones(len(x))
    sum_vals = np.nancumsum(x.astype(float))
    count_vals = np.cumsum(~nan)
    return np.divide(sum_vals, count_vals, out=np.zeros_like(sum_vals), where=count_vals != 0)


def _greedy_match(
    gt: EvalBoxes,
    pred: EvalBoxes,
    gt_idx: np.ndarray,
    pred_order: np.ndarray,
    dist_ths: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """Per threshold, the matched ground truth (index into ``gt``, -1: none) of each
    prediction in ``pred_order``, and the match distance."""
    n = len(pred_order)
    matched = np.full((len(dist_ths), n), -1, dtype=np.int64)
    dist = np.full((len(dist_ths), n), np.inf)
    if n == 0 or len(gt_idx) == 0:
        return matched, dist
    pred_sample = pred.sample[pred_order]
    gt_sample = gt.sample[gt_idx]
    by_sample = np.argsort(pred_sample, kind="stable")  # ranks grouped by sample, rank order kept
    starts = np.searchsorted(pred_sample[by_sample], np.unique(pred_sample))
    groups = np.split(by_sample, starts[1:])
    for ranks in groups:
        s = pred_sample[ranks[0]]
        g = gt_idx[gt_sample == s]
        if len(g) == 0:
            continue
        diff = pred.translation[pred_order[ranks], None, :2] - gt.translation[None, g, :2]
        d = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)  # (P_s, G_s)
        for t, th in enumerate(dist_ths):
            taken = np.zeros(len(g), dtype=bool)
            # A prediction with no ground truth closer than th never matches: skip it.
            for r in np.flatnonzero((d < th).any(axis=1)):
                row = np.where(taken, np.inf, d[r])
                j = int(np.argmin(row))
                if row[j] < th:
                    taken[j] = True
                    matched[t, ranks[r]] = g[j]
                    dist[t, ranks[r]] = row[j]
    return matched, dist


def _match_errors(
    gt: EvalBoxes,
    pred: EvalBoxes,
    gi: np.ndarray,
    pi: np.ndarray,
    dist: np.ndarray,
    period: float,
) -> dict[str, np.ndarray]:
    """TP errors of the matched pairs ``(gi[k], pi[k])``."""
    dv = pred.velocity[pi] - gt.velocity[gi]
    vel_err = np.sqrt(dv[:, 0] ** 2 + dv[:, 1] ** 2)
    sa, sr = gt.size[gi], pred.size[pi]
    inter = np.prod(np.minimum(sa, sr), axis=1)
    iou = inter / (np.prod(sa, axis=1) + np.prod(sr, axis=1) - inter)
    yaw_gt = quaternion_yaw(gt.rotation[gi])
    yaw_pred = quaternion_yaw(pred.rotation[pi])
    orient_err = np.abs(angle_diff(yaw_gt, yaw_pred, period))
    ga = gt.attribute[gi]
    attr_err = np.where(ga == -1, np.nan, 1.0 - (ga == pred.attribute[pi]))
    return {
        "trans_err": dist,
        "vel_err": vel_err,
        "scale_err": 1 - iou,
        "orient_err": orient_err,
        "attr_err": attr_err,
    }


def accumulate(
    gt: EvalBoxes,
    pred: EvalBoxes,
    class_index: int,
    dist_ths: Sequence[float],
    period: float = 2 * np.pi,
) -> list[MetricData]:
    """The :class:`MetricData` of one class at each distance threshold.

    ``pred.sample`` must index ``gt.sample_tokens`` (same samples, same order); ``period`` is
    the heading period of the class (pi for barriers).
    """
    gt_idx = np.flatnonzero(gt.name == class_index)
    npos = len(gt_idx)
    if npos == 0:
        return [MetricData.no_predictions() for _ in dist_ths]
    pred_idx = np.flatnonzero(pred.name == class_index)
    confs = pred.score[pred_idx]
    # Descending score; equal scores: the later prediction first (the devkit sorts (score, i)).
    pred_order = pred_idx[np.lexsort((np.arange(len(pred_idx)), confs))[::-1]]
    matched, dist = _greedy_match(gt, pred, gt_idx, pred_order, dist_ths)
    conf_sorted = pred.score[pred_order]
    out = []
    for t in range(len(dist_ths)):
        is_tp = matched[t] >= 0
        if not is_tp.any():
            out.append(MetricData.no_predictions())
            continue
        tp = np.cumsum(is_tp).astype(float)
        fp = np.cumsum(~is_tp).astype(float)
        prec = tp / (fp + tp)
        rec = tp / float(npos)
        rec_interp = np.linspace(0, 1, NELEM)
        prec = np.interp(rec_interp, rec, prec, right=0)
        conf = np.interp(rec_interp, rec, conf_sorted, right=0)
        errors = _match_errors(
            gt, pred, matched[t, is_tp], pred_order[is_tp], dist[t, is_tp], period
        )
        match_conf = conf_sorted[is_tp]
        for key, values in errors.items():
            tmp = cummean(values)
            errors[key] = np.interp(conf[::-1], match_conf[::-1], tmp[::-1])[::-1]
        out.append(MetricData(recall=rec_interp, precision=prec, confidence=conf, **errors))
    return out


def calc_ap(md: MetricData, min_recall: float, min_precision: float) -> float:
    """Area under the precision curve above ``min_recall`` and ``min_precision``, rescaled
    to [0, 1]."""
    prec = np.copy(md.precision)
    prec = prec[round(100 * min_recall) + 1 :]  # the min-recall point itself is left out
    prec -= min_precision
    prec[prec < 0] = 0
    return float(np.mean(prec)) / (1.0 - min_precision)


def calc_tp(md: MetricData, min_recall: float, metric_name: str) -> float:
    """Mean TP error over the recall points above ``min_recall`` up to the highest recall
    reached; 1 when that is not above ``min_recall``."""
    first_ind = round(100 * min_recall) + 1
    last_ind = md.max_recall_ind
    if last_ind < first_ind:
        return 1.0
    return float(np.mean(getattr(md, metric_name)[first_ind : last_ind + 1]))
