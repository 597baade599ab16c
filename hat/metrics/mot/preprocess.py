"""From a sequence's ground truth and tracker results to the per-frame boxes that are scored.

The MOTChallenge preprocessing (TrackEval ``MotChallenge2DBox.get_preprocessed_seq_data``;
motmetrics ``preprocess.preprocessResult`` does the same):

1. In every frame, all ground-truth boxes (every class, considered or not) and all result boxes
   are matched one-to-one at IoU >= 0.5 by a Hungarian assignment maximising the summed IoU.
2. Result boxes matched to a distractor-class box (person on vehicle, static person,
   distractor, reflection: :data:`DISTRACTOR_CLASSES`) are removed: they are neither true nor
   false positives.
3. Ground-truth boxes whose consider flag is 0 or whose class is not pedestrian (1) are
   removed. A result box matched in step 1 to a non-considered *pedestrian* stays and may count
   as a false positive, as in both references.

``mot15-2D`` has no classes: only step 3's consider flag applies. One documented nuance:
motmetrics' assignment in step 1 first maximises the number of matched pairs (invalid pairs
get a large cost) and then the summed IoU, TrackEval's only the summed IoU; the two choose
different pairs only when fewer, better-overlapping pairs outweigh more pairs. As every valid
pair scores between 0.5 and 1, that needs a chain of at least three ground-truth and three
result boxes overlapping alternately at IoU >= 0.5 (two and two can at most tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from hat.data.errors import CorruptFileError
from hat.data.readers.mot17_files import DISTRACTOR_CLASSES
from hat.metrics.mot.io import MotBoxes

__all__ = ["MATCH_IOU", "EvalFrame", "EvalSequence", "box_iou", "preprocess_sequence"]

#: The IoU at which a result box can match a ground-truth box (CLEAR, identity, preprocessing).
MATCH_IOU = 0.5
_EPS = np.finfo("float").eps
_PEDESTRIAN = 1


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of ``left, top, width, height`` boxes, float64.

    TrackEval's formula (``_BaseDataset._calculate_box_ious``): boxes or unions of zero area
    give IoU 0.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4).copy()
    b = np.asarray(b, np.float64).reshape(-1, 4).copy()
    a[:, 2:] += a[:, :2]
    b[:, 2:] += b[:, :2]
    lo = np.maximum(a[:, None, :], b[None, :, :])
    hi = np.minimum(a[:, None, :], b[None, :, :])
    inter = np.maximum(hi[..., 2] - lo[..., 0], 0) * np.maximum(hi[..., 3] - lo[..., 1], 0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    inter[area_a <= _EPS, :] = 0
    inter[:, area_b <= _EPS] = 0
    inter[union <= _EPS] = 0
    union[union <= _EPS] = 1
    return inter / union


@dataclass(frozen=True)
class EvalFrame:
    """The scored boxes of one frame: considered pedestrians and the kept result boxes, in file
    order, and their IoU."""

    frame: int
    gt_ids: np.ndarray  # (G,) int64
    gt_boxes: np.ndarray  # (G, 4) float64 ltwh
    res_ids: np.ndarray  # (R,) int64
    res_boxes: np.ndarray  # (R, 4) float64 ltwh
    iou: np.ndarray  # (G, R) float64


@dataclass(frozen=True)
class EvalSequence:
    """Every frame ``1..num_frames`` of one sequence after preprocessing."""

    name: str
    frames: list[EvalFrame]
    removed_results: int  # result boxes removed as matches of distractors
    listed_frames: int  # frames with a line in either file, before preprocessing

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def _frame_slices(table: MotBoxes, num_frames: int) -> list[np.ndarray]:
    """Row indices of each frame ``1..num_frames`` (file order within a frame)."""
    order = np.argsort(table.frames, kind="stable")
    bounds = np.searchsorted(table.frames[order], np.arange(1, num_frames + 2))
    return [order[bounds[t] : bounds[t + 1]] for t in range(num_frames)]


def _check_frames(table: MotBoxes, num_frames: int) -> None:
    if len(table) and table.max_frame > num_frames:
        i = int(np.argmax(table.frames))
        raise CorruptFileError(
            f"{table.path}, line {table.lines[i]}: frame {table.frames[i]} is beyond the "
            f"sequence's {num_frames} frames (seqLength)"
        )


def _distractor_matches(iou: np.ndarray, gt_classes: np.ndarray) -> np.ndarray:
    """Columns of result boxes matched (IoU >= 0.5, max summed IoU) to distractor boxes."""
    scores = iou.copy()
    scores[scores < MATCH_IOU - _EPS] = 0
    rows, cols = linear_sum_assignment(-scores)
    matched = scores[rows, cols] > 0 + _EPS
    rows, cols = rows[matched], cols[matched]
    return cols[np.isin(gt_classes[rows], DISTRACTOR_CLASSES)]


def preprocess_sequence(
    name: str,
    gt: MotBoxes,
    results: MotBoxes,
    num_frames: int | None = None,
    fmt: str = "mot17",
) -> EvalSequence:
    """Apply the MOTChallenge preprocessing (module doc) to every frame of one sequence.

    ``num_frames`` is the sequence length (``seqLength``); None: the last frame of either file.
    A box in a frame beyond ``num_frames`` is an error naming its file and line.
    """
    if num_frames is None:
        num_frames = max(gt.max_frame, results.max_frame)
    _check_frames(gt, num_frames)
    _check_frames(results, num_frames)
    with_classes = fmt != "mot15-2D"
    gt_rows = _frame_slices(gt, num_frames)
    res_rows = _frame_slices(results, num_frames)
    frames, removed = [], 0
    for t in range(num_frames):
        g, r = gt_rows[t], res_rows[t]
        iou = box_iou(gt.boxes[g], results.boxes[r])
        if with_classes and len(g) and len(r):
            drop = _distractor_matches(iou, gt.classes[g])
            if drop.size:
                keep_r = np.ones(len(r), bool)
                keep_r[drop] = False
                r, iou = r[keep_r], iou[:, keep_r]
                removed += int(drop.size)
        keep_g = gt.conf[g] != 0
        if with_classes:
            keep_g &= gt.classes[g] == _PEDESTRIAN
        g, iou = g[keep_g], iou[keep_g]
        frames.append(
            EvalFrame(
                frame=t + 1,
                gt_ids=gt.ids[g],
                gt_boxes=gt.boxes[g],
                res_ids=results.ids[r],
                res_boxes=results.boxes[r],
                iou=iou,
            )
        )
    listed = np.union1d(gt.frames, results.frames).size
    return EvalSequence(name=name, frames=frames, removed_results=removed, listed_frames=listed)
