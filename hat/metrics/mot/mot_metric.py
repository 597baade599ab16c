"""``MotMetric``: collect a tracker's per-frame outputs, write MOTChallenge result files and
evaluate them against the ground truth (CLEAR MOT, identity, HOTA)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from hat.errors import UserInputError
from hat.metrics.metric import EvalMetric
from hat.metrics.mot.evaluate import OVERALL, evaluate_dirs, find_sequences, format_table
from hat.metrics.mot.io import FORMATS, format_results, write_results
from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import all_gather_object, broadcast_object, get_rank

__all__ = ["MotMetric"]

logger = logging.getLogger(__name__)

#: (reported name, key in the evaluator's table); the first is what checkpoints monitor.
DEFAULT_VALUES: tuple[tuple[str, str], ...] = (
    ("MOTA", "mota"),
    ("IDF1", "idf1"),
    ("HOTA", "HOTA"),
    ("DetA", "DetA"),
    ("AssA", "AssA"),
    ("LocA", "LocA"),
    ("MOTP", "motp"),
    ("IDP", "idp"),
    ("IDR", "idr"),
    ("Rcll", "recall"),
    ("Prcn", "precision"),
    ("FP", "num_false_positives"),
    ("FN", "num_misses"),
    ("IDs", "num_switches"),
    ("FM", "num_fragmentations"),
    ("MT", "mostly_tracked"),
    ("PT", "partially_tracked"),
    ("ML", "mostly_lost"),
)

_Frame = tuple[np.ndarray, np.ndarray, np.ndarray]  # ids (M,), boxes ltwh (M, 4), scores (M,)


def _array(x: Any, what: str, dtype: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise UserInputError(f"MotMetric: {what} is not numeric: {type(x).__name__}") from None


@OBJECT_REGISTRY.register
class MotMetric(EvalMetric):
    """MOTA / IDF1 / HOTA ... of a tracker over the sequences of ``gt_dir``.

    Args:
        gt_dir: ground truth, ``<seq>/gt/gt.txt`` (+ ``seqinfo.ini``), e.g. the packer's
            ``test_gt``.
        save_prefix: folder receiving ``<seq>.txt`` in MOTChallenge format at every
            :meth:`get`.
        fmt: ground-truth format (``mot17``, ``mot16``, ``mot15-2D``).
        log_table: log the per-sequence table at every :meth:`get`.

    ``update(batch, outputs)``: ``outputs`` is one frame's
    ``dict(seq_name, frame_id, boxes, ids, scores)`` or a list of them; ``boxes`` ``(M, 4)``
    ``x1, y1, x2, y2`` pixels, ``ids`` ``(M,)`` integer track ids, ``scores`` ``(M,)``
    (tensors or arrays). ``batch`` is not read. A frame seen twice (a distributed sampler
    padding its last batch) counts once.

    :meth:`get` gathers the frames of all DDP ranks; rank 0 writes the files, evaluates
    (:func:`~hat.metrics.mot.evaluate.evaluate_dirs`: every sequence of ``gt_dir``, a
    sequence without outputs gets an empty file and so only misses) and every rank returns
    its OVERALL values under the names of :data:`DEFAULT_VALUES`. The full per-sequence
    table of the last :meth:`get` is :attr:`last_table`.
    """

    def __init__(
        self,
        gt_dir: str,
        save_prefix: str,
        fmt: str = "mot17",
        log_table: bool = True,
    ) -> None:
        super().__init__([name for name, _ in DEFAULT_VALUES])
        if fmt not in FORMATS:
            raise UserInputError(f"MotMetric: fmt={fmt!r}; expected one of {FORMATS}")
        self.gt_dir = str(gt_dir)
        self.save_prefix = str(save_prefix)
        self.fmt = fmt
        self.log_table = log_table
        self.last_table: dict[str, dict[str, float]] = {}
        self._frames: dict[tuple[str, int], _Frame] = {}

    def reset(self) -> None:
        super().reset()
        self._frames = {}

    @torch.no_grad()
    def update(self, batch: Any, outputs: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        del batch
        for out in [outputs] if isinstance(outputs, Mapping) else outputs:
            self._add_frame(out)

    def _add_frame(self, out: Mapping[str, Any]) -> None:
        missing = [k for k in ("seq_name", "frame_id", "boxes", "ids", "scores") if k not in out]
        if missing:
            raise UserInputError(
                f"MotMetric.update: frame output lacks {missing}; expected keys seq_name, "
                f"frame_id, boxes (M, 4) xyxy, ids (M,), scores (M,); got {sorted(out)}"
            )
        seq = str(out["seq_name"])
        frame_id = _array(out["frame_id"], "frame_id", np.int64).reshape(-1)
        if frame_id.size != 1:
            raise UserInputError(
                f"MotMetric.update: {seq}: frame_id holds {frame_id.size} values; pass one dict "
                "per frame (a list of them for a batch)"
            )
        frame = int(frame_id[0])
        boxes = _array(out["boxes"], "boxes", np.float64).reshape(-1, 4)
        ids = _array(out["ids"], "ids", np.float64).reshape(-1)
        scores = _array(out["scores"], "scores", np.float64).reshape(-1)
        if not len(boxes) == len(ids) == len(scores):
            raise UserInputError(
                f"MotMetric.update: {seq} frame {frame}: {len(boxes)} boxes, {len(ids)} ids "
                f"and {len(scores)} scores"
            )
        if frame < 1:
            raise UserInputError(f"MotMetric.update: {seq}: frame_id {frame} (frames count from 1)")
        if not np.all(ids == np.round(ids)):
            raise UserInputError(f"MotMetric.update: {seq} frame {frame}: ids must be integers")
        ltwh = boxes.copy()
        ltwh[:, 2:] -= ltwh[:, :2]
        self._frames.setdefault((seq, frame), (ids.astype(np.int64), ltwh, scores))

    def _gathered(self) -> dict[tuple[str, int], _Frame]:
        merged: dict[tuple[str, int], _Frame] = {}
        for part in all_gather_object(self._frames):
            for key, value in part.items():
                merged.setdefault(key, value)
        return merged

    def _write(self, frames: dict[tuple[str, int], _Frame], sequences: list[str]) -> None:
        per_seq: dict[str, list[tuple[int, _Frame]]] = {s: [] for s in sequences}
        for (seq, frame), value in frames.items():
            per_seq.setdefault(seq, []).append((frame, value))
        unknown = sorted(set(per_seq) - set(sequences))
        if unknown:
            logger.warning(
                "MotMetric: outputs of %s have no ground truth in %s (written, not evaluated)",
                ", ".join(unknown), self.gt_dir,
            )  # fmt: skip
        empty = [s for s in sequences if not per_seq[s]]
        if empty:
            logger.warning(
                "MotMetric: no outputs for %s (evaluated as all missed)", ", ".join(empty)
            )
        for seq, items in per_seq.items():
            if items:
                f = np.concatenate([np.full(len(v[0]), fr, np.int64) for fr, v in items])
                ids, boxes, scores = (np.concatenate([v[i] for _, v in items]) for i in range(3))
            else:
                f = ids = scores = np.zeros(0)
                boxes = np.zeros((0, 4))
            write_results(
                os.path.join(self.save_prefix, f"{seq}.txt"), format_results(f, ids, boxes, scores)
            )

    def _evaluate(self, frames: dict[tuple[str, int], _Frame]) -> dict[str, dict[str, float]]:
        sequences = find_sequences(self.gt_dir)
        self._write(frames, sequences)
        table, _ = evaluate_dirs(self.gt_dir, self.save_prefix, self.fmt, sequences)
        return table

    def get(self) -> tuple[list[str], list[float]]:
        """OVERALL values over all ranks' frames (see the class doc); collective under DDP."""
        frames = self._gathered()
        answer: tuple[str, Any] = ("ok", None)
        error: Exception | None = None
        if get_rank() == 0:
            try:
                answer = ("ok", self._evaluate(frames))
            except Exception as exc:  # every rank must leave the broadcast below
                error, answer = exc, ("error", f"{type(exc).__name__}: {exc}")
        answer = broadcast_object(answer)
        if error is not None:
            raise error
        if answer[0] == "error":
            raise RuntimeError(f"MotMetric: evaluation failed on rank 0: {answer[1]}")
        self.last_table = answer[1]
        if self.log_table and get_rank() == 0:
            logger.info(
                "MOT evaluation of %s:\n%s", self.save_prefix, format_table(self.last_table)
            )
        overall = self.last_table[OVERALL]
        return list(self.name), [float(overall[key]) for _, key in DEFAULT_VALUES]

    def compute(self) -> list[float]:
        return self.get()[1]
