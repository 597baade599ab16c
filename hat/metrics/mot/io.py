"""MOTChallenge text files as the evaluator reads and writes them.

Ground truth (``<seq>/gt/gt.txt``), one box per line, no header, fields separated by commas
(or blanks, as motmetrics accepts):

- ``mot16`` / ``mot17``: 9 fields ``frame, id, left, top, width, height, consider, class,
  visibility``; ``consider`` is 0 or 1, ``class`` one of the 13 MOT16 classes.
- ``mot15-2D``: 7 to 10 fields ``frame, id, left, top, width, height, conf[, x, y, z]``
  (no classes; ``conf`` 0 marks an ignored box as in TrackEval).

Tracker results (``<seq>.txt``): 7 to 10 fields ``frame, id, left, top, width, height,
score[, -1, -1, -1]``; :func:`format_results` writes the 10-field form. A result box of
negative width or height is read (it overlaps nothing and so is a false positive, as in both
references); in the ground truth it is an error.

Frames count from 1, ids are integers, boxes are pixels (the MATLAB ``-1`` offset that
motmetrics subtracts from both files changes no IoU and is not applied). Every error is a
:class:`~hat.data.errors.CorruptFileError` naming the file, the line and what was expected; an
id appearing twice in one frame is an error (TrackEval refuses it too).
"""

from __future__ import annotations

import configparser
import math
import os
import re
from dataclasses import dataclass

import numpy as np

from hat.data.errors import CorruptFileError
from hat.data.readers.mot17_files import MOT_CLASSES

__all__ = [
    "FORMATS",
    "MotBoxes",
    "format_results",
    "read_ground_truth",
    "read_results",
    "read_seq_length",
    "write_results",
]

#: The ``--fmt`` values of motmetrics' ``eval_motchallenge``: MOT15 has no classes (and so no
#: distractor preprocessing), MOT16 and MOT17 share the 9-field ground truth.
FORMATS = ("mot15-2D", "mot16", "mot17")

_SEPARATORS = re.compile(r"\s*,\s*|\s+")
_GT_WHAT = {
    "mot15-2D": "frame,id,left,top,width,height,conf[,x,y,z]",
    "mot16": "frame,id,left,top,width,height,consider,class,visibility",
}
_GT_WHAT["mot17"] = _GT_WHAT["mot16"]
_RESULT_WHAT = "frame,id,left,top,width,height,score[,-1,-1,-1]"


@dataclass(frozen=True)
class MotBoxes:
    """The rows of one MOTChallenge file, in file order (float64 boxes ``left, top, w, h``).

    For results ``conf`` is the score, ``classes`` all 1 and ``visibility`` all 1; for MOT15
    ground truth ``classes`` and ``visibility`` are all 1.
    """

    path: str
    frames: np.ndarray  # (N,) int64, from 1
    ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64 left, top, width, height
    conf: np.ndarray  # (N,) float64: consider flag (gt) or score (results)
    classes: np.ndarray  # (N,) int64
    visibility: np.ndarray  # (N,) float64
    lines: np.ndarray  # (N,) int64, 1-based line numbers

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def max_frame(self) -> int:
        return int(self.frames.max()) if len(self) else 0


def _table(path: str, a: np.ndarray, lines: list[int]) -> MotBoxes:
    return MotBoxes(
        path=path,
        frames=a[:, 0].astype(np.int64),
        ids=a[:, 1].astype(np.int64),
        boxes=np.ascontiguousarray(a[:, 2:6], dtype=np.float64),
        conf=a[:, 6].astype(np.float64),
        classes=a[:, 7].astype(np.int64),
        visibility=a[:, 8].astype(np.float64),
        lines=np.asarray(lines, np.int64),
    )


def _rows(path: str, min_fields: int, max_fields: int, what: str, negative_size: bool = False):
    """``(line number, values)`` of every non-blank line, checked for count and numbers."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"file not found: {path}")
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            fields = _SEPARATORS.split(text)
            if not min_fields <= len(fields) <= max_fields:
                count = (
                    str(min_fields) if min_fields == max_fields else f"{min_fields}..{max_fields}"
                )
                raise CorruptFileError(
                    f"{path}, line {lineno}: {len(fields)} fields, expected {count} ({what}): "
                    f"{text!r}"
                )
            try:
                values = [float(x) for x in fields]
            except ValueError:
                raise CorruptFileError(
                    f"{path}, line {lineno}: non-numeric field, expected {what}: {text!r}"
                ) from None
            if not all(math.isfinite(v) for v in values):
                raise CorruptFileError(
                    f"{path}, line {lineno}: non-finite number, expected {what}: {text!r}"
                )
            _check_common(path, lineno, values, text, negative_size)
            yield lineno, values, text


def _check_common(path: str, lineno: int, v: list[float], text: str, negative_size: bool) -> None:
    if not (v[0].is_integer() and v[0] >= 1):
        raise CorruptFileError(f"{path}, line {lineno}: frame must be an integer >= 1: {text!r}")
    if not v[1].is_integer():
        raise CorruptFileError(f"{path}, line {lineno}: id must be an integer: {text!r}")
    if not negative_size and (v[4] < 0 or v[5] < 0):
        raise CorruptFileError(f"{path}, line {lineno}: width/height must be >= 0: {text!r}")


def _check_unique_ids(table: MotBoxes) -> None:
    if not len(table):
        return
    keys = table.frames * (2**32) + (table.ids - table.ids.min())
    order = np.argsort(keys, kind="stable")
    dup = np.nonzero(np.diff(keys[order]) == 0)[0]
    if dup.size:
        first, second = order[dup[0]], order[dup[0] + 1]
        raise CorruptFileError(
            f"{table.path}, line {table.lines[second]}: id {table.ids[second]} appears twice in "
            f"frame {table.frames[second]} (also line {table.lines[first]}); ids must be unique "
            "within a frame"
        )


def read_ground_truth(path: str | os.PathLike, fmt: str = "mot17") -> MotBoxes:
    """Parse a ``gt.txt`` of format ``fmt`` (one of :data:`FORMATS`; see the module doc)."""
    path = os.fspath(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown MOTChallenge format {fmt!r}; expected one of {FORMATS}")
    what = _GT_WHAT[fmt]
    rows, lines = [], []
    if fmt == "mot15-2D":
        for lineno, v, _ in _rows(path, 7, 10, what):
            rows.append([*v[:7], 1.0, 1.0])
            lines.append(lineno)
    else:
        for lineno, v, text in _rows(path, 9, 9, what):
            where = f"{path}, line {lineno}"
            if v[6] not in (0.0, 1.0):
                raise CorruptFileError(f"{where}: consider flag must be 0 or 1: {text!r}")
            if not (v[7].is_integer() and int(v[7]) in MOT_CLASSES):
                raise CorruptFileError(
                    f"{where}: class must be one of {sorted(MOT_CLASSES)}: {text!r}"
                )
            rows.append(v)
            lines.append(lineno)
    table = _table(path, np.asarray(rows, np.float64).reshape(-1, 9), lines)
    _check_unique_ids(table)
    return table


def read_results(path: str | os.PathLike) -> MotBoxes:
    """Parse a tracker result file (7 to 10 fields per line; see the module doc)."""
    path = os.fspath(path)
    rows, lines = [], []
    for lineno, v, _ in _rows(path, 7, 10, _RESULT_WHAT, negative_size=True):
        rows.append([*v[:7], 1.0, 1.0])
        lines.append(lineno)
    table = _table(path, np.asarray(rows, np.float64).reshape(-1, 9), lines)
    _check_unique_ids(table)
    return table


def format_results(
    frames: np.ndarray, ids: np.ndarray, boxes_ltwh: np.ndarray, scores: np.ndarray
) -> str:
    """MOTChallenge result lines ``frame,id,left,top,width,height,score,-1,-1,-1``, sorted by
    frame then id (boxes with 2 decimals as the MOTChallenge devkits write them)."""
    frames = np.asarray(frames, np.int64).reshape(-1)
    ids = np.asarray(ids, np.int64).reshape(-1)
    boxes = np.asarray(boxes_ltwh, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if not len(frames) == len(ids) == len(boxes) == len(scores):
        raise ValueError(
            f"format_results: {len(frames)} frames, {len(ids)} ids, {len(boxes)} boxes and "
            f"{len(scores)} scores differ in length"
        )
    order = np.lexsort((ids, frames))
    return "".join(
        f"{frames[i]},{ids[i]},{boxes[i, 0]:.2f},{boxes[i, 1]:.2f},{boxes[i, 2]:.2f},"
        f"{boxes[i, 3]:.2f},{scores[i]:.6g},-1,-1,-1\n"
        for i in order
    )


def write_results(path: str | os.PathLike, text: str) -> None:
    """Write result ``text`` to ``path`` atomically (a temporary file renamed into place)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_seq_length(path: str | os.PathLike) -> int:
    """``seqLength`` of a ``seqinfo.ini`` (section ``[Sequence]``; the only key the evaluation
    needs, as in TrackEval and motmetrics)."""
    path = os.fspath(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8-sig") as f:
            parser.read_file(f, source=path)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not a valid ini file ({exc})") from None
    if not parser.has_option("Sequence", "seqLength"):
        raise CorruptFileError(f"{path}: missing key 'seqLength' in [Sequence]")
    text = parser.get("Sequence", "seqLength").strip()
    if not text.isdigit() or int(text) < 1:
        raise CorruptFileError(f"{path}: seqLength={text!r}: expected a positive integer")
    return int(text)
