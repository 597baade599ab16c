"""Multi-object tracking evaluation on MOTChallenge files: CLEAR MOT and identity metrics as
motmetrics computes them, HOTA as TrackEval does, after the MOTChallenge preprocessing."""

from hat.metrics.mot.evaluate import (
    OVERALL,
    SequenceEvaluation,
    combine,
    evaluate_dirs,
    evaluate_sequence,
    format_table,
)
from hat.metrics.mot.io import FORMATS, MotBoxes, read_ground_truth, read_results

__all__ = [
    "FORMATS",
    "OVERALL",
    "MotBoxes",
    "SequenceEvaluation",
    "combine",
    "evaluate_dirs",
    "evaluate_sequence",
    "format_table",
    "read_ground_truth",
    "read_results",
]
