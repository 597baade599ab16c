"""The MOTChallenge "half" split of MOT17's train sequences (CenterTrack's convention, kept by
ByteTrack, FairMOT users and HAT's MOTR recipe): the test split has no public gt, so the first
half of each train sequence trains and the second half validates.

With ``n`` images (= ``seqLength``), 0-based frame indices ``[0, n//2]`` (inclusive, n//2+1
frames) form the train half and ``[n//2+1, n-1]`` the validation half, written as ``test``
(e.g. 600 frames -> 301 / 299). Each half is renumbered from ``000001``; the ``gt.txt`` and
``det.txt`` rows of its frames are kept in file order with only the frame field rewritten
(every other field keeps its original text), and ``seqinfo.ini`` gets the new ``seqLength``.

Only one detector copy per video is written (``FRCNN`` by default, as CenterTrack and ByteTrack
do: the copies share images and gt)::

    <out>/train/MOT17-XX-FRCNN/{img1/000001.jpg.., gt/gt.txt, det/det.txt, seqinfo.ini}
    <out>/test/MOT17-XX-FRCNN/...

Images are hard links to the source when the filesystem allows, copies otherwise. The tree is
built in a temporary folder beside ``<out>`` and renamed into place: an error or a kill leaves
no half-written ``<out>``, and an existing ``<out>`` is replaced only with ``overwrite``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from hat.data.errors import CorruptFileError
from hat.data.readers.mot17_files import read_det, read_gt, seqinfo_text
from hat.data.readers.mot17_layout import Mot17Layout, MotSequence

__all__ = [
    "HALVES",
    "SequenceSplit",
    "half_ranges",
    "make_half_split",
    "remove_stale_temp_dirs",
]

#: Split folder of each half: the train half, and the validation half written as ``test``.
HALVES = ("train", "test")


def half_ranges(n: int) -> dict[str, tuple[int, int]]:
    """0-based inclusive frame ranges of the halves of an ``n``-frame sequence."""
    if n < 3:
        raise ValueError(f"a sequence needs at least 3 frames to split in halves, got {n}")
    return {"train": (0, n // 2), "test": (n // 2 + 1, n - 1)}


@dataclass(frozen=True)
class SequenceSplit:
    """What was written for one sequence: frames, gt and det rows per half."""

    name: str
    frames: dict[str, int]
    gt_rows: dict[str, int]
    det_rows: dict[str, int]
    linked: int
    copied: int


def make_half_split(
    src_data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    detector: str = "FRCNN",
    overwrite: bool = False,
    progress: Callable[[SequenceSplit], None] | None = None,
) -> list[SequenceSplit]:
    """Write the half split of every ``<src>/train`` video's ``detector`` copy to ``out_dir``."""
    src, out = os.fspath(src_data_path), os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    layout = Mot17Layout(src)
    seqs = [video.copy(detector) for video in layout.videos("train")]
    for seq in seqs:  # check everything before writing anything
        seq.check_images()
        half_ranges(seq.info.seq_length)
        if not seq.has_gt:
            raise FileNotFoundError(f"gt file not found: {seq.gt_path} (train sequences need it)")
    parent, name = os.path.split(out)
    os.makedirs(parent, exist_ok=True)
    remove_stale_temp_dirs(parent, name)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    results = []
    try:
        for seq in seqs:
            result = _split_sequence(seq, tmp)
            results.append(result)
            if progress is not None:
                progress(result)
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def _split_sequence(seq: MotSequence, out_root: str) -> SequenceSplit:
    n = seq.info.seq_length
    ranges = half_ranges(n)
    gt_lines = _rows_in_order(seq.gt_path, "gt", n)
    det_lines = _rows_in_order(seq.det_path, "det", n) if os.path.isfile(seq.det_path) else None
    frames, gt_rows, det_rows = {}, {}, {}
    linked = copied = 0
    for half, (first, last) in ranges.items():
        dst = os.path.join(out_root, half, seq.name)
        img_dir = os.path.join(dst, seq.info.im_dir)
        os.makedirs(img_dir)
        for new, old in enumerate(range(first + 1, last + 2), start=1):
            target = os.path.join(img_dir, f"{new:06d}{seq.info.im_ext}")
            if _link_or_copy(seq.image_path(old), target):
                linked += 1
            else:
                copied += 1
        frames[half] = last - first + 1
        gt_rows[half] = _write_rows(os.path.join(dst, "gt", "gt.txt"), gt_lines, first, last)
        if det_lines is not None:
            det_path = os.path.join(dst, "det", "det.txt")
            det_rows[half] = _write_rows(det_path, det_lines, first, last)
        info = seq.info.replace(seq_length=frames[half])
        with open(os.path.join(dst, "seqinfo.ini"), "w", encoding="ascii", newline="\n") as f:
            f.write(seqinfo_text(info))
    return SequenceSplit(seq.name, frames, gt_rows, det_rows, linked, copied)


def _rows_in_order(path: str, kind: str, n: int) -> list[tuple[int, list[str]]]:
    """``(frame, original fields)`` of every row, validated by the parser, in file order."""
    table = read_gt(path) if kind == "gt" else read_det(path)
    with open(path, encoding="utf-8-sig") as f:
        text = f.read().splitlines()
    rows = []
    for frame, lineno in zip(table.frames.tolist(), table.lines.tolist(), strict=True):
        if frame > n:
            raise CorruptFileError(
                f"{path}, line {lineno}: frame {frame} is past the sequence's seqLength={n}"
            )
        rows.append((frame, [x.strip() for x in text[lineno - 1].strip().split(",")]))
    return rows


def _write_rows(path: str, rows: list[tuple[int, list[str]]], first: int, last: int) -> int:
    """Write the rows whose 0-based frame is in ``[first, last]``, renumbered; their count."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    count = 0
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for frame, fields in rows:
            if first <= frame - 1 <= last:
                f.write(",".join([str(frame - first), *fields[1:]]) + "\n")
                count += 1
    return count


def _link_or_copy(src: str, dst: str) -> bool:
    """Hard-link ``src`` at ``dst`` (True), or copy it where links are impossible (False)."""
    try:
        os.link(src, dst)
        return True
    except OSError:
        shutil.copyfile(src, dst)
        return False


def _replace_dir(new: str, target: str) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first, then removed."""
    old = None
    if os.path.exists(target):
        old = f"{new}.old"
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)(?:\.old)?$")


def remove_stale_temp_dirs(parent: str, name: str) -> None:
    """Remove the folders ``parent/.{name}.tmp-{pid}`` of earlier runs whose process is gone
    (a killed run)."""
    for entry in os.listdir(parent):
        match = _TEMP.match(entry)
        if match is None or match["name"] != name:
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and _alive(pid):
            continue
        shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
