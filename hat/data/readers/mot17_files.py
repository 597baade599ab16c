"""The MOTChallenge text files of one MOT16/MOT17 sequence: ``seqinfo.ini``, ``gt/gt.txt``,
``det/det.txt``.

``seqinfo.ini`` (section ``[Sequence]``, all seven keys required, written in this order with
``\\n`` line ends as the release does, since some tools search it as text)::

    [Sequence]
    name=MOT17-02-FRCNN
    imDir=img1
    frameRate=30
    seqLength=600
    imWidth=1920
    imHeight=1080
    imExt=.jpg

``gt/gt.txt``: comma separated, no header, 9 columns
``frame, id, bb_left, bb_top, bb_width, bb_height, consider, class, visibility`` (frames from 1;
``consider`` 1 = evaluated, 0 = ignored; classes as :data:`MOT_CLASSES`; visibility in [0, 1]),
e.g. ``1,1,912,484,97,109,0,7,1``. Real files are grouped by id, then frame.

``det/det.txt``: 10 columns ``frame, -1, x, y, w, h, score, -1, -1, -1``, e.g.
``1,-1,1359.1,413.27,120.26,362.77,2.3092,-1,-1,-1`` (scores are detector specific: DPM's are
not in [0, 1]).

Every parse error is a :class:`~hat.data.errors.CorruptFileError` naming the file, the line
number (1-based) and what was expected.
"""

from __future__ import annotations

import configparser
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hat.data.errors import CorruptFileError

__all__ = [
    "DET_COLUMNS",
    "DISTRACTOR_CLASSES",
    "GT_COLUMNS",
    "MOT_CLASSES",
    "SEQINFO_KEYS",
    "MotDetections",
    "MotGroundTruth",
    "SeqInfo",
    "format_det_lines",
    "format_gt_lines",
    "iter_rows",
    "read_det",
    "read_gt",
    "read_seqinfo",
    "seqinfo_text",
]

SEQINFO_KEYS = ("name", "imDir", "frameRate", "seqLength", "imWidth", "imHeight", "imExt")
GT_COLUMNS = 9
DET_COLUMNS = 10
#: Class ids of gt.txt (MOT16 paper; motmetrics ``preprocess.py``); 13 is MOT20's crowd.
MOT_CLASSES = {
    1: "pedestrian", 2: "person_on_vehicle", 3: "car", 4: "bicycle", 5: "motorbike",
    6: "non_mot_vehicle", 7: "static_person", 8: "distractor", 9: "occluder",
    10: "occluder_on_ground", 11: "occluder_full", 12: "reflection", 13: "crowd",
}  # fmt: skip
#: Classes whose matches the MOTChallenge evaluation removes instead of counting.
DISTRACTOR_CLASSES = (2, 7, 8, 12)


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of ``seqinfo.ini``."""

    name: str
    im_dir: str
    frame_rate: int
    seq_length: int
    im_width: int
    im_height: int
    im_ext: str

    def replace(self, **changes: object) -> SeqInfo:
        """A copy with some fields changed (e.g. ``seq_length``)."""
        fields = {**self.__dict__, **changes}
        return SeqInfo(**fields)  # type: ignore[arg-type]


def read_seqinfo(path: str | os.PathLike) -> SeqInfo:
    """Parse ``seqinfo.ini``; every one of :data:`SEQINFO_KEYS` must be present."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"seqinfo.ini not found: {path}")
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are camelCase
    try:
        with open(path, encoding="utf-8-sig") as f:
            parser.read_file(f, source=path)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not a valid ini file ({exc})") from None
    if not parser.has_section("Sequence"):
        raise CorruptFileError(f"{path}: missing section [Sequence]")
    section = parser["Sequence"]
    values: dict[str, str] = {}
    for key in SEQINFO_KEYS:
        if key not in section or not section[key].strip():
            raise CorruptFileError(
                f"{path}: missing key {key!r} in [Sequence] (required: {', '.join(SEQINFO_KEYS)})"
            )
        values[key] = section[key].strip()

    def positive_int(key: str) -> int:
        try:
            value = int(values[key])
        except ValueError:
            value = 0
        if value <= 0:
            raise CorruptFileError(
                f"{path}: {key}={values[key]!r} in [Sequence]: expected a positive integer"
            )
        return value

    return SeqInfo(
        name=values["name"],
        im_dir=values["imDir"],
        frame_rate=positive_int("frameRate"),
        seq_length=positive_int("seqLength"),
        im_width=positive_int("imWidth"),
        im_height=positive_int("imHeight"),
        im_ext=values["imExt"],
    )


def seqinfo_text(info: SeqInfo) -> str:
    """The text of ``seqinfo.ini`` for ``info``, in the release's key order and line ends."""
    values = (
        info.name, info.im_dir, info.frame_rate, info.seq_length, info.im_width,
        info.im_height, info.im_ext,
    )  # fmt: skip
    lines = ["[Sequence]", *(f"{k}={v}" for k, v in zip(SEQINFO_KEYS, values, strict=True))]
    return "\n".join(lines) + "\n\n"


def iter_rows(path: str | os.PathLike, columns: int) -> Iterator[tuple[int, list[str]]]:
    """``(line number, stripped fields)`` of every non-blank line of a comma-separated file
    that must have exactly ``columns`` fields."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"file not found: {path}")
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            fields = [x.strip() for x in text.split(",")]
            if len(fields) != columns:
                raise CorruptFileError(
                    f"{path}, line {lineno}: {len(fields)} comma-separated fields, expected "
                    f"{columns}: {text!r}"
                )
            yield lineno, fields


def _numbers(path: str, lineno: int, fields: list[str], what: str) -> list[float]:
    try:
        values = [float(x) for x in fields]
    except ValueError:
        raise CorruptFileError(
            f"{path}, line {lineno}: non-numeric field, expected {what}: {','.join(fields)!r}"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise CorruptFileError(
            f"{path}, line {lineno}: non-finite number, expected {what}: {','.join(fields)!r}"
        )
    return values


def _check(ok: bool, path: str, lineno: int, message: str, fields: list[str]) -> None:
    if not ok:
        raise CorruptFileError(f"{path}, line {lineno}: {message}: {','.join(fields)!r}")


def _integral(value: float) -> bool:
    return float(value).is_integer()


_GT_WHAT = "frame,id,left,top,width,height,consider,class,visibility"
_DET_WHAT = "frame,-1,left,top,width,height,score,-1,-1,-1"


@dataclass(frozen=True)
class MotGroundTruth:
    """The rows of a ``gt.txt``, in file order; boxes are ``(left, top, width, height)`` pixels."""

    frames: np.ndarray  # (N,) int64, from 1
    ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float32 ltwh
    consider: np.ndarray  # (N,) uint8, 1 evaluated / 0 ignored
    classes: np.ndarray  # (N,) int64
    visibility: np.ndarray  # (N,) float32 in [0, 1]
    lines: np.ndarray  # (N,) int64 line numbers in the file

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def boxes_xyxy(self) -> np.ndarray:
        """``(N, 4)`` float32 ``x1, y1, x2, y2`` (``x2 = left + width``)."""
        out = self.boxes.copy()
        out[:, 2:] += out[:, :2]
        return out

    def select(self, mask: np.ndarray) -> MotGroundTruth:
        """The rows where ``mask`` (bool (N,) or indices) holds."""
        return MotGroundTruth(**{k: v[mask] for k, v in self.__dict__.items()})


def read_gt(path: str | os.PathLike) -> MotGroundTruth:
    """Parse a 9-column ``gt.txt`` (see the module doc); an empty file gives no rows."""
    path = os.fspath(path)
    rows: list[list[float]] = []
    lines: list[int] = []
    for lineno, fields in iter_rows(path, GT_COLUMNS):
        v = _numbers(path, lineno, fields, _GT_WHAT)
        _check(_integral(v[0]) and v[0] >= 1, path, lineno, "frame must be an integer >= 1", fields)
        _check(_integral(v[1]), path, lineno, "id must be an integer", fields)
        _check(v[4] >= 0 and v[5] >= 0, path, lineno, "box width/height must be >= 0", fields)
        _check(v[6] in (0.0, 1.0), path, lineno, "consider flag must be 0 or 1", fields)
        _check(
            _integral(v[7]) and int(v[7]) in MOT_CLASSES,
            path, lineno, f"class must be one of {sorted(MOT_CLASSES)}", fields,
        )  # fmt: skip
        _check(0.0 <= v[8] <= 1.0, path, lineno, "visibility must be in [0, 1]", fields)
        rows.append(v)
        lines.append(lineno)
    a = np.asarray(rows, np.float64).reshape(-1, GT_COLUMNS)
    return MotGroundTruth(
        frames=a[:, 0].astype(np.int64),
        ids=a[:, 1].astype(np.int64),
        boxes=a[:, 2:6].astype(np.float32),
        consider=a[:, 6].astype(np.uint8),
        classes=a[:, 7].astype(np.int64),
        visibility=a[:, 8].astype(np.float32),
        lines=np.asarray(lines, np.int64),
    )


@dataclass(frozen=True)
class MotDetections:
    """The rows of a ``det.txt``, in file order; boxes are ``(left, top, width, height)``."""

    frames: np.ndarray  # (N,) int64, from 1
    boxes: np.ndarray  # (N, 4) float32 ltwh
    scores: np.ndarray  # (N,) float32, detector specific range
    lines: np.ndarray  # (N,) int64 line numbers in the file

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def boxes_xyxy(self) -> np.ndarray:
        """``(N, 4)`` float32 ``x1, y1, x2, y2``."""
        out = self.boxes.copy()
        out[:, 2:] += out[:, :2]
        return out


def read_det(path: str | os.PathLike) -> MotDetections:
    """Parse a 10-column ``det.txt`` (see the module doc); an empty file gives no rows."""
    path = os.fspath(path)
    rows: list[list[float]] = []
    lines: list[int] = []
    for lineno, fields in iter_rows(path, DET_COLUMNS):
        v = _numbers(path, lineno, fields, _DET_WHAT)
        _check(_integral(v[0]) and v[0] >= 1, path, lineno, "frame must be an integer >= 1", fields)
        _check(v[4] >= 0 and v[5] >= 0, path, lineno, "box width/height must be >= 0", fields)
        rows.append(v)
        lines.append(lineno)
    a = np.asarray(rows, np.float64).reshape(-1, DET_COLUMNS)
    return MotDetections(
        frames=a[:, 0].astype(np.int64),
        boxes=a[:, 2:6].astype(np.float32),
        scores=a[:, 6].astype(np.float32),
        lines=np.asarray(lines, np.int64),
    )


def _num(x: float, digits: int) -> str:
    """``x`` with at most ``digits`` decimals and no trailing zeros (``912``, ``413.27``)."""
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_gt_lines(
    frames: np.ndarray,
    ids: np.ndarray,
    boxes_ltwh: np.ndarray,
    consider: np.ndarray,
    classes: np.ndarray,
    visibility: np.ndarray,
) -> str:
    """``gt.txt`` text for the rows given, in the order given (sort by id, frame first)."""
    out = []
    rows = zip(frames, ids, boxes_ltwh, consider, classes, visibility, strict=True)
    for f, i, b, c, k, v in rows:
        box = ",".join(_num(float(x), 2) for x in b)
        out.append(f"{int(f)},{int(i)},{box},{int(c)},{int(k)},{_num(float(v), 5)}\n")
    return "".join(out)


def format_det_lines(frames: np.ndarray, boxes_ltwh: np.ndarray, scores: np.ndarray) -> str:
    """``det.txt`` text for the rows given, in the order given (sort by frame first)."""
    out = []
    for f, b, s in zip(frames, boxes_ltwh, scores, strict=True):
        box = ",".join(_num(float(x), 2) for x in b)
        out.append(f"{int(f)},-1,{box},{_num(float(s), 4)},-1,-1,-1\n")
    return "".join(out)
