"""HOTA (Luiten et al., IJCV 2021) of one sequence and of several, as TrackEval computes it.

TrackEval ``metrics/hota.py``: for each localisation threshold ``alpha`` in 0.05, 0.10, ...,
0.95, boxes are matched per frame by a Hungarian assignment maximising
``global alignment score x IoU`` (the alignment score of two trajectories is their soft
Jaccard overlap over the whole sequence), pairs below ``alpha`` are dropped, and

- ``DetA = TP / (TP + FN + FP)``, ``DetRe``, ``DetPr``;
- ``AssA`` = mean over the true positives of the Jaccard overlap of the two trajectories they
  join (``AssRe``, ``AssPr`` likewise);
- ``LocA`` = mean IoU of the true positives; ``HOTA = sqrt(DetA * AssA)``.

Each value is reported as the mean over the 19 thresholds (TrackEval's printed HOTA, DetA,
...), plus ``HOTA(0)`` and ``LocA(0)`` at the lowest one. Several sequences combine by summing
TP/FN/FP per threshold and weighting AssA/AssRe/AssPr/LocA by TP (TrackEval
``combine_sequences``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from hat.metrics.mot.preprocess import EvalSequence

__all__ = ["ALPHAS", "HotaArrays", "combine_hota", "hota_arrays", "hota_scores"]

#: TrackEval's thresholds, computed the same way (same floats).
ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps


@dataclass
class HotaArrays:
    """Per-threshold HOTA fields of one sequence (or combined), each ``(len(ALPHAS),)``."""

    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    ass_a: np.ndarray
    ass_re: np.ndarray
    ass_pr: np.ndarray
    loc_a: np.ndarray

    @staticmethod
    def zeros() -> HotaArrays:
        z = np.zeros(len(ALPHAS))
        return HotaArrays(*(z.copy() for _ in range(7)))


def _relabel(ids_per_frame: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Ids mapped to ``0..n-1`` (sorted order), and ``n``."""
    unique = np.unique(np.concatenate(ids_per_frame + [np.zeros(0, np.int64)]))
    return [np.searchsorted(unique, ids) for ids in ids_per_frame], len(unique)


def hota_arrays(seq: EvalSequence) -> HotaArrays:
    """TrackEval's ``HOTA.eval_sequence`` on ``seq`` (module doc)."""
    res = HotaArrays.zeros()
    gt_ids, num_gt_ids = _relabel([f.gt_ids for f in seq.frames])
    tr_ids, num_tr_ids = _relabel([f.res_ids for f in seq.frames])
    sims = [f.iou for f in seq.frames]
    num_gt_dets = sum(len(g) for g in gt_ids)
    num_tr_dets = sum(len(t) for t in tr_ids)
    if num_tr_dets == 0:
        res.fn[:] = num_gt_dets
        res.loc_a[:] = 1.0
        return res
    if num_gt_dets == 0:
        res.fp[:] = num_tr_dets
        res.loc_a[:] = 1.0
        return res

    potential = np.zeros((num_gt_ids, num_tr_ids))
    gt_count = np.zeros((num_gt_ids, 1))
    tr_count = np.zeros((1, num_tr_ids))
    for g, t, sim in zip(gt_ids, tr_ids, sims):
        denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
        sim_iou = np.zeros_like(sim)
        mask = denom > 0 + _EPS
        sim_iou[mask] = sim[mask] / denom[mask]
        potential[g[:, np.newaxis], t[np.newaxis, :]] += sim_iou
        gt_count[g] += 1
        tr_count[0, t] += 1
    global_alignment = potential / (gt_count + tr_count - potential)
    matches = [np.zeros_like(potential) for _ in ALPHAS]

    for g, t, sim in zip(gt_ids, tr_ids, sims):
        if len(g) == 0:
            res.fp += len(t)
            continue
        if len(t) == 0:
            res.fn += len(g)
            continue
        score = global_alignment[g[:, np.newaxis], t[np.newaxis, :]] * sim
        rows, cols = linear_sum_assignment(-score)
        for a, alpha in enumerate(ALPHAS):
            ok = sim[rows, cols] >= alpha - _EPS
            ar, ac = rows[ok], cols[ok]
            n = len(ar)
            res.tp[a] += n
            res.fn[a] += len(g) - n
            res.fp[a] += len(t) - n
            if n > 0:
                res.loc_a[a] += sum(sim[ar, ac])
                matches[a][g[ar], t[ac]] += 1

    for a in range(len(ALPHAS)):
        m = matches[a]
        tp = np.maximum(1, res.tp[a])
        res.ass_a[a] = np.sum(m * (m / np.maximum(1, gt_count + tr_count - m))) / tp
        res.ass_re[a] = np.sum(m * (m / np.maximum(1, gt_count))) / tp
        res.ass_pr[a] = np.sum(m * (m / np.maximum(1, tr_count))) / tp
    res.loc_a = np.maximum(1e-10, res.loc_a) / np.maximum(1e-10, res.tp)
    return res


def combine_hota(parts: list[HotaArrays]) -> HotaArrays:
    """TrackEval's ``HOTA.combine_sequences``: summed counts, TP-weighted averages."""
    out = HotaArrays.zeros()
    for p in parts:
        out.tp += p.tp
        out.fn += p.fn
        out.fp += p.fp
    for name in ("ass_a", "ass_re", "ass_pr"):
        weighted = sum((getattr(p, name) * p.tp for p in parts), np.zeros(len(ALPHAS)))
        setattr(out, name, weighted / np.maximum(1.0, out.tp))
    loc = sum((p.loc_a * p.tp for p in parts), np.zeros(len(ALPHAS)))
    out.loc_a = np.maximum(1e-10, loc) / np.maximum(1e-10, out.tp)
    return out


def hota_scores(h: HotaArrays) -> dict[str, float]:
    """HOTA, DetA, AssA, LocA, DetRe, DetPr, AssRe, AssPr (means over ALPHAS), HOTA(0) and
    LocA(0), under TrackEval's names."""
    det_re = h.tp / np.maximum(1, h.tp + h.fn)
    det_pr = h.tp / np.maximum(1, h.tp + h.fp)
    det_a = h.tp / np.maximum(1, h.tp + h.fn + h.fp)
    hota = np.sqrt(det_a * h.ass_a)
    return {
        "HOTA": float(np.mean(hota)),
        "DetA": float(np.mean(det_a)),
        "AssA": float(np.mean(h.ass_a)),
        "LocA": float(np.mean(h.loc_a)),
        "DetRe": float(np.mean(det_re)),
        "DetPr": float(np.mean(det_pr)),
        "AssRe": float(np.mean(h.ass_re)),
        "AssPr": float(np.mean(h.ass_pr)),
        "HOTA(0)": float(hota[0]),
        "LocA(0)": float(h.loc_a[0]),
    }
