"""Evaluate tracker results against MOTChallenge ground truth: per sequence and overall.

Per sequence: the MOTChallenge preprocessing (:mod:`~hat.metrics.mot.preprocess`), then CLEAR
MOT (:mod:`~hat.metrics.mot.clear`, motmetrics' definitions and names), identity
(:mod:`~hat.metrics.mot.identity`) and HOTA (:mod:`~hat.metrics.mot.hota`, TrackEval's
definitions and names). Overall: CLEAR and identity counts summed and their ratios recomputed,
as motmetrics' ``OVERALL`` row (MOTP overall is the summed distance over the summed
detections; motmetrics weights per-sequence MOTPs, which gives NaN as soon as one sequence has
no detection), HOTA combined as TrackEval's ``COMBINED_SEQ``.

Layout (motmetrics' ``eval_motchallenge``): ``gt_dir/<seq>/gt/gt.txt`` (with
``gt_dir/<seq>/seqinfo.ini`` giving ``seqLength`` when present, else the last frame of either
file) and ``res_dir/<seq>.txt``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from hat.errors import UserInputError
from hat.metrics.mot.clear import ClearCounts, clear_counts, clear_scores
from hat.metrics.mot.hota import HotaArrays, combine_hota, hota_arrays, hota_scores
from hat.metrics.mot.identity import IdentityCounts, identity_counts, identity_scores
from hat.metrics.mot.io import (
    FORMATS,
    MotBoxes,
    read_ground_truth,
    read_results,
    read_seq_length,
)
from hat.metrics.mot.preprocess import preprocess_sequence

__all__ = [
    "OVERALL",
    "SUMMARY_COLUMNS",
    "SequenceEvaluation",
    "combine",
    "evaluate_dirs",
    "evaluate_sequence",
    "find_sequences",
    "format_table",
    "sequence_length",
]

OVERALL = "OVERALL"
#: Table columns: (header, key, kind), kind "pct" (a ratio shown in %), "dist" (MOTP, the mean
#: 1 - IoU, shown with 3 decimals as motmetrics does) or "int".
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("MOTA", "mota", "pct"),
    ("IDF1", "idf1", "pct"),
    ("HOTA", "HOTA", "pct"),
    ("DetA", "DetA", "pct"),
    ("AssA", "AssA", "pct"),
    ("LocA", "LocA", "pct"),
    ("MOTP", "motp", "dist"),
    ("IDP", "idp", "pct"),
    ("IDR", "idr", "pct"),
    ("Rcll", "recall", "pct"),
    ("Prcn", "precision", "pct"),
    ("GT", "num_unique_objects", "int"),
    ("MT", "mostly_tracked", "int"),
    ("PT", "partially_tracked", "int"),
    ("ML", "mostly_lost", "int"),
    ("FP", "num_false_positives", "int"),
    ("FN", "num_misses", "int"),
    ("IDs", "num_switches", "int"),
    ("FM", "num_fragmentations", "int"),
)


@dataclass
class SequenceEvaluation:
    """The summable counts of one sequence (or of several, :func:`combine`d)."""

    name: str
    clear: ClearCounts
    identity: IdentityCounts
    hota: HotaArrays
    removed_results: int = 0

    def scores(self) -> dict[str, float]:
        """CLEAR and identity values (motmetrics' names), HOTA values (TrackEval's names)."""
        return {
            **clear_scores(self.clear),
            **identity_scores(self.identity),
            **hota_scores(self.hota),
            "removed_results": self.removed_results,
        }


def evaluate_sequence(
    name: str,
    gt: MotBoxes,
    results: MotBoxes,
    num_frames: int | None = None,
    fmt: str = "mot17",
) -> SequenceEvaluation:
    """Preprocess and score one sequence (``num_frames``: its ``seqLength``, or None)."""
    seq = preprocess_sequence(name, gt, results, num_frames=num_frames, fmt=fmt)
    return SequenceEvaluation(
        name=name,
        clear=clear_counts(seq),
        identity=identity_counts(seq),
        hota=hota_arrays(seq),
        removed_results=seq.removed_results,
    )


def combine(parts: Sequence[SequenceEvaluation], name: str = OVERALL) -> SequenceEvaluation:
    """Summed CLEAR/identity counts and TrackEval's HOTA combination of ``parts``."""
    clear, identity = ClearCounts(), IdentityCounts()
    for p in parts:
        clear = clear + p.clear
        identity = identity + p.identity
    return SequenceEvaluation(
        name=name,
        clear=clear,
        identity=identity,
        hota=combine_hota([p.hota for p in parts]),
        removed_results=sum(p.removed_results for p in parts),
    )


def find_sequences(gt_dir: str | os.PathLike) -> list[str]:
    """Names of the sequences under ``gt_dir`` (folders holding ``gt/gt.txt``), sorted."""
    gt_dir = os.fspath(gt_dir)
    if not os.path.isdir(gt_dir):
        raise UserInputError(f"ground-truth folder not found: {gt_dir}")
    names = sorted(
        n for n in os.listdir(gt_dir) if os.path.isfile(os.path.join(gt_dir, n, "gt", "gt.txt"))
    )
    if not names:
        raise UserInputError(f"{gt_dir}: no sequence folder holding gt/gt.txt")
    return names


def sequence_length(gt_dir: str | os.PathLike, name: str) -> int | None:
    """``seqLength`` of ``gt_dir/<name>/seqinfo.ini``; None without that file."""
    path = os.path.join(os.fspath(gt_dir), name, "seqinfo.ini")
    return read_seq_length(path) if os.path.isfile(path) else None


def evaluate_dirs(
    gt_dir: str | os.PathLike,
    res_dir: str | os.PathLike,
    fmt: str = "mot17",
    sequences: Sequence[str] | None = None,
) -> tuple[dict[str, dict[str, float]], list[SequenceEvaluation]]:
    """Evaluate ``res_dir/<seq>.txt`` against ``gt_dir/<seq>/gt/gt.txt`` for every sequence
    of ``gt_dir`` (or ``sequences``): ``({seq: scores, ..., "OVERALL": scores}, evaluations)``.

    A sequence without a result file is an error (evaluating a subset would inflate the
    scores); result files of sequences absent from ``gt_dir`` are ignored.
    """
    if fmt not in FORMATS:
        raise UserInputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    names = list(sequences) if sequences is not None else find_sequences(gt_dir)
    missing = [n for n in names if not os.path.isfile(os.path.join(res_dir, f"{n}.txt"))]
    if missing:
        raise UserInputError(
            f"{res_dir}: no result file for sequence(s) {', '.join(missing)} (expected <seq>.txt)"
        )
    evaluations = []
    for name in names:
        gt = read_ground_truth(os.path.join(gt_dir, name, "gt", "gt.txt"), fmt)
        results = read_results(os.path.join(res_dir, f"{name}.txt"))
        evaluations.append(evaluate_sequence(name, gt, results, sequence_length(gt_dir, name), fmt))
    table = {e.name: e.scores() for e in evaluations}
    table[OVERALL] = combine(evaluations).scores()
    return table, evaluations


def _cell(value: float, kind: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if kind == "pct":
        return f"{100 * value:.1f}%"
    return f"{value:.3f}" if kind == "dist" else str(int(value))


def format_table(table: dict[str, dict[str, float]]) -> str:
    """A text table of :data:`SUMMARY_COLUMNS` with one row per sequence (and OVERALL)."""
    rows = [
        [name] + [_cell(s[key], kind) for _, key, kind in SUMMARY_COLUMNS]
        for name, s in table.items()
    ]
    header = [""] + [h for h, _, _ in SUMMARY_COLUMNS]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        " ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [header, *rows]
    ]
    return "\n".join(lines)
