"""Identity metrics (IDF1, IDP, IDR; Ristani et al. 2016) of one sequence.

A ground-truth trajectory and a result trajectory can be paired for the whole sequence; each
frame in which both are present at IoU >= 0.5 is then an identity true positive. The global
one-to-one pairing of trajectories maximising the true positives is found by a Hungarian
assignment (motmetrics ``id_global_assignment`` and TrackEval ``Identity`` solve the same
problem as a min-cost assignment of false negatives plus false positives, whose optimum is the
same count). IDFN = ground-truth boxes - IDTP, IDFP = result boxes - IDTP,
IDF1 = 2 IDTP / (ground-truth boxes + result boxes); undefined ratios are NaN (motmetrics).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from hat.metrics.mot.clear import quiet_divide
from hat.metrics.mot.preprocess import MATCH_IOU, EvalSequence

__all__ = ["IdentityCounts", "identity_counts", "identity_scores"]


@dataclass
class IdentityCounts:
    """The summable identity counts of one sequence (or of several, added)."""

    idtp: int = 0
    idfp: int = 0
    idfn: int = 0

    def __add__(self, other: IdentityCounts) -> IdentityCounts:
        return IdentityCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


def identity_counts(seq: EvalSequence) -> IdentityCounts:
    """IDTP/IDFP/IDFN of ``seq`` (module doc)."""
    gt_ids = np.unique(np.concatenate([f.gt_ids for f in seq.frames] + [np.zeros(0, np.int64)]))
    res_ids = np.unique(np.concatenate([f.res_ids for f in seq.frames] + [np.zeros(0, np.int64)]))
    pairs = np.zeros((len(gt_ids), len(res_ids)))
    num_gt = num_res = 0
    for f in seq.frames:
        num_gt += len(f.gt_ids)
        num_res += len(f.res_ids)
        rows, cols = np.nonzero(f.iou >= MATCH_IOU)
        gi = np.searchsorted(gt_ids, f.gt_ids)
        ri = np.searchsorted(res_ids, f.res_ids)
        np.add.at(pairs, (gi[rows], ri[cols]), 1)
    idtp = 0
    if pairs.size:
        r, c = linear_sum_assignment(pairs, maximize=True)
        idtp = int(round(pairs[r, c].sum()))
    return IdentityCounts(idtp=idtp, idfp=num_res - idtp, idfn=num_gt - idtp)


def identity_scores(c: IdentityCounts) -> dict[str, float]:
    """IDF1, IDP, IDR and the counts, under motmetrics' names."""
    return {
        "idf1": quiet_divide(2 * c.idtp, 2 * c.idtp + c.idfp + c.idfn),
        "idp": quiet_divide(c.idtp, c.idtp + c.idfp),
        "idr": quiet_divide(c.idtp, c.idtp + c.idfn),
        "idtp": c.idtp,
        "idfp": c.idfp,
        "idfn": c.idfn,
    }
