"""CLEAR MOT events and counts of one sequence, as motmetrics' ``MOTAccumulator`` makes them.

Per frame (motmetrics ``mot.py``, ``MOTAccumulator.update``), with the distance
``d = 1 - IoU`` and pairs at IoU < 0.5 not allowed:

1. Every ground-truth object whose last matched hypothesis (in any earlier frame) is present
   and still allowed keeps it: a MATCH.
2. The remaining objects and hypotheses are assigned by a Hungarian assignment minimising the
   summed distance (invalid pairs get motmetrics' large finite cost, so the number of pairs is
   maximised first). A pair whose object was last matched to another hypothesis is a SWITCH
   (also an ASCEND if that hypothesis was never matched before); a pair whose hypothesis was
   last matched to another object is a TRANSFER (also a MIGRATE if that object was never
   matched before).
3. Unassigned objects are MISSes (false negatives), unassigned hypotheses FPs.

Counts (motmetrics ``metrics.py``): MOTA = 1 - (FN + IDSW + FP) / num_objects;
MOTP = mean distance ``1 - IoU`` of MATCH and SWITCH pairs (motmetrics' definition; TrackEval
and the MOTChallenge site report the mean IoU, i.e. ``1 - MOTP``, which we give as
``motp_iou``); an object is mostly tracked when matched in >= 80 % of the frames it appears
in, mostly lost below 20 % (TrackEval: MT above 80 %); a fragmentation is a change from
tracked to missed between an object's first and last tracked frame. Undefined ratios are NaN
(0 / 0) or -inf, as motmetrics' ``quiet_divide`` gives them.

TrackEval's CLEAR differs from this in rare cases, which the tests keep apart: it carries a
match forward only from the immediately preceding frame (step 1), its fragmentations also
count a gap in which the object is absent from the ground truth but none across a frame
without any result box, and MT needs a ratio strictly above 0.8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from hat.metrics.mot.preprocess import MATCH_IOU, EvalSequence

__all__ = [
    "ClearCounts",
    "clear_counts",
    "clear_scores",
    "motmetrics_assignment",
    "quiet_divide",
]


def motmetrics_assignment(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-cost assignment of a cost matrix whose NaN entries are forbidden pairs, exactly as
    motmetrics' scipy solver does it (``lap.add_expensive_edges``): forbidden pairs get the
    cost ``2 r c + 1`` and are dropped from the answer."""
    costs = np.asarray(costs, np.float64)
    if not costs.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    valid = np.isfinite(costs)
    if valid.all():
        finite = costs.copy()
    elif not valid.any():
        finite = np.zeros_like(costs)
    else:
        c = np.abs(costs[valid]).max() + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
    rows, cols = linear_sum_assignment(finite)
    keep = valid[rows, cols]
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


@dataclass
class ClearCounts:
    """The summable CLEAR MOT counts of one sequence (or of several, added)."""

    num_frames: int = 0
    num_objects: int = 0  # ground-truth boxes
    num_predictions: int = 0  # result boxes
    num_unique_objects: int = 0
    num_matches: int = 0
    num_switches: int = 0
    num_false_positives: int = 0
    num_misses: int = 0
    num_fragmentations: int = 0
    num_transfer: int = 0
    num_ascend: int = 0
    num_migrate: int = 0
    mostly_tracked: int = 0
    partially_tracked: int = 0
    mostly_lost: int = 0
    distance_sum: float = 0.0  # summed 1 - IoU of MATCH and SWITCH pairs

    def __add__(self, other: ClearCounts) -> ClearCounts:
        return ClearCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass
class _Accumulator:
    """motmetrics' ``MOTAccumulator`` state (``max_switch_time`` infinite)."""

    last_hyp: dict[int, int] = field(default_factory=dict)  # m: object -> last hypothesis
    last_obj: dict[int, int] = field(default_factory=dict)  # res_m: hypothesis -> last object
    matched_objs: set[int] = field(default_factory=set)  # keys of last_match
    matched_hyps: set[int] = field(default_factory=set)  # keys of hypHistory
    counts: ClearCounts = field(default_factory=ClearCounts)
    # per object: one flag per frame it appears in, True = missed
    missed: dict[int, list[bool]] = field(default_factory=dict)


def _update(acc: _Accumulator, oids: np.ndarray, hids: np.ndarray, dists: np.ndarray) -> None:
    c = acc.counts
    o_done = np.zeros(len(oids), bool)
    h_done = np.zeros(len(hids), bool)
    dists = dists.copy()
    if len(oids) and len(hids):
        for i, o in enumerate(oids.tolist()):
            if o not in acc.last_hyp:
                continue
            (js,) = np.nonzero(~h_done & (hids == acc.last_hyp[o]))
            if js.size == 0 or not np.isfinite(dists[i, js[0]]):
                continue
            j = js[0]
            o_done[i] = h_done[j] = True
            c.num_matches += 1
            c.distance_sum += float(dists[i, j])
            acc.matched_objs.add(o)
            acc.matched_hyps.add(int(hids[j]))
        dists[o_done, :] = np.nan
        dists[:, h_done] = np.nan
        for i, j in zip(*motmetrics_assignment(dists)):
            o, h = int(oids[i]), int(hids[j])
            if o in acc.last_hyp and acc.last_hyp[o] != h:
                c.num_switches += 1
                c.num_ascend += h not in acc.matched_hyps
            else:
                c.num_matches += 1
            if h in acc.last_obj and acc.last_obj[h] != o:
                c.num_transfer += 1
                c.num_migrate += o not in acc.matched_objs
            c.distance_sum += float(dists[i, j])
            acc.matched_hyps.add(h)
            acc.matched_objs.add(o)
            o_done[i] = h_done[j] = True
            acc.last_hyp[o] = h
            acc.last_obj[h] = o
    c.num_misses += int((~o_done).sum())
    c.num_false_positives += int((~h_done).sum())
    for o, done in zip(oids.tolist(), o_done.tolist()):
        acc.missed.setdefault(o, []).append(not done)


def _fragmentations(missed: list[bool]) -> int:
    """Changes tracked -> missed between the first and last tracked frame."""
    tracked = [i for i, m in enumerate(missed) if not m]
    if not tracked:
        return 0
    span = missed[tracked[0] : tracked[-1] + 1]
    return sum(1 for a, b in zip(span, span[1:]) if not a and b)


def clear_counts(seq: EvalSequence) -> ClearCounts:
    """Run the accumulator over every frame of ``seq`` and count (module doc).

    ``num_frames`` counts the frames with a line in either file (before preprocessing), as
    motmetrics does (it sees only frames present in either file).
    """
    acc = _Accumulator()
    acc.counts.num_frames = seq.listed_frames
    for f in seq.frames:
        if not len(f.gt_ids) and not len(f.res_ids):
            continue
        acc.counts.num_objects += len(f.gt_ids)
        acc.counts.num_predictions += len(f.res_ids)
        dists = 1.0 - f.iou
        dists[dists > MATCH_IOU] = np.nan
        _update(acc, f.gt_ids, f.res_ids, dists)
    c = acc.counts
    c.num_unique_objects = len(acc.missed)
    for missed in acc.missed.values():
        ratio = 1.0 - sum(missed) / len(missed)
        if ratio >= 0.8:
            c.mostly_tracked += 1
        elif ratio >= 0.2:
            c.partially_tracked += 1
        else:
            c.mostly_lost += 1
        c.num_fragmentations += _fragmentations(missed)
    return c


def quiet_divide(a: float, b: float) -> float:
    """``a / b`` with numpy's quiet semantics: 0 / 0 = NaN, x / 0 = +-inf."""
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def clear_scores(c: ClearCounts) -> dict[str, float]:
    """The CLEAR MOT values of ``c`` under motmetrics' names (module doc)."""
    detections = c.num_matches + c.num_switches
    errors = c.num_misses + c.num_switches + c.num_false_positives
    motp = quiet_divide(c.distance_sum, detections)
    return {
        "mota": 1.0 - quiet_divide(errors, c.num_objects),
        "motp": motp,
        "motp_iou": 1.0 - motp,
        "recall": quiet_divide(detections, c.num_objects),
        "precision": quiet_divide(detections, detections + c.num_false_positives),
        "num_frames": c.num_frames,
        "num_objects": c.num_objects,
        "num_predictions": c.num_predictions,
        "num_unique_objects": c.num_unique_objects,
        "num_detections": detections,
        "num_matches": c.num_matches,
        "num_switches": c.num_switches,
        "num_false_positives": c.num_false_positives,
        "num_misses": c.num_misses,
        "num_fragmentations": c.num_fragmentations,
        "num_transfer": c.num_transfer,
        "num_ascend": c.num_ascend,
        "num_migrate": c.num_migrate,
        "mostly_tracked": c.mostly_tracked,
        "partially_tracked": c.partially_tracked,
        "mostly_lost": c.mostly_lost,
    }
