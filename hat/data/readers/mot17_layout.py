"""The raw MOT17 layout (``MOT17.zip`` from motchallenge.net, unchanged) and its half split.

::

    <root>/{train,test}/MOT17-XX-{DPM,FRCNN,SDP}/
        seqinfo.ini
        img1/000001.jpg ...        (seqLength images, 1-based, %06d + imExt)
        det/det.txt
        gt/gt.txt                  (train only)

The three copies of one video (one per public detector) share images, ``seqinfo.ini`` values
(except ``name``) and ``gt.txt``; only ``det.txt`` differs. :class:`MotVideo` groups them.
Names without a detector suffix (``MOT16-02``, ``MOT20-01``) are read as one copy with
``detector=None``. Directories of a split that hold no ``seqinfo.ini`` are not sequences and
are skipped (e.g. ``.DS_Store`` folders); a sequence whose image count differs from its
``seqLength`` is an error naming the folder and both numbers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from hat.data.errors import CorruptFileError
from hat.data.readers.mot17_files import (
    MotDetections,
    MotGroundTruth,
    SeqInfo,
    read_det,
    read_gt,
    read_seqinfo,
)

__all__ = [
    "DETECTORS",
    "MOT17_TEST_VIDEOS",
    "MOT17_TRAIN_VIDEOS",
    "SPLITS",
    "Mot17Layout",
    "MotSequence",
    "MotVideo",
    "parse_sequence_name",
]

SPLITS = ("train", "test")
DETECTORS = ("DPM", "FRCNN", "SDP")
MOT17_TRAIN_VIDEOS = ("02", "04", "05", "09", "10", "11", "13")
MOT17_TEST_VIDEOS = ("01", "03", "06", "07", "08", "12", "14")
_NAME = re.compile(r"^(?P<video>MOT\d+-\d+)(?:-(?P<detector>[A-Za-z0-9]+))?$")


def parse_sequence_name(name: str) -> tuple[str, str | None]:
    """``"MOT17-02-FRCNN"`` -> ``("MOT17-02", "FRCNN")``; ``"MOT16-02"`` -> ``("MOT16-02",
    None)``."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not a MOTChallenge sequence name (expected e.g. MOT17-02-FRCNN)"
        )
    return match["video"], match["detector"]


@dataclass(frozen=True)
class MotSequence:
    """One sequence folder (one detector copy) with its ``seqinfo.ini`` read."""

    path: str
    info: SeqInfo

    @property
    def name(self) -> str:
        """The folder name, e.g. ``MOT17-02-FRCNN``."""
        return os.path.basename(self.path)

    @property
    def video(self) -> str:
        """The name without the detector, e.g. ``MOT17-02``."""
        return parse_sequence_name(self.name)[0]

    @property
    def detector(self) -> str | None:
        return parse_sequence_name(self.name)[1]

    @property
    def image_dir(self) -> str:
        return os.path.join(self.path, self.info.im_dir)

    @property
    def seqinfo_path(self) -> str:
        return os.path.join(self.path, "seqinfo.ini")

    @property
    def gt_path(self) -> str:
        return os.path.join(self.path, "gt", "gt.txt")

    @property
    def det_path(self) -> str:
        return os.path.join(self.path, "det", "det.txt")

    @property
    def has_gt(self) -> bool:
        return os.path.isfile(self.gt_path)

    def image_path(self, frame: int) -> str:
        """The image of 1-based ``frame`` (``img1/000001.jpg``)."""
        return os.path.join(self.image_dir, f"{int(frame):06d}{self.info.im_ext}")

    def image_paths(self) -> list[str]:
        """All ``seqLength`` image paths in frame order, after :meth:`check_images`."""
        self.check_images()
        return [self.image_path(f) for f in range(1, self.info.seq_length + 1)]

    def check_images(self) -> None:
        """The image folder must hold exactly ``seqLength`` files ``000001..`` + ``imExt``."""
        if not os.path.isdir(self.image_dir):
            raise FileNotFoundError(
                f"image folder not found: {self.image_dir} (imDir={self.info.im_dir} in "
                f"{self.seqinfo_path})"
            )
        names = {n for n in os.listdir(self.image_dir) if n.endswith(self.info.im_ext)}
        n = self.info.seq_length
        if len(names) != n:
            raise CorruptFileError(
                f"{self.image_dir}: holds {len(names)} *{self.info.im_ext} images but "
                f"seqLength={n} in {self.seqinfo_path}"
            )
        for frame in range(1, n + 1):
            name = f"{frame:06d}{self.info.im_ext}"
            if name not in names:
                raise CorruptFileError(
                    f"{self.image_dir}: image {name} of frame {frame} is missing (expected "
                    f"000001{self.info.im_ext}..{n:06d}{self.info.im_ext}, seqLength={n})"
                )

    def read_gt(self) -> MotGroundTruth:
        """``gt/gt.txt`` (a FileNotFoundError for test sequences, which have none)."""
        return read_gt(self.gt_path)

    def read_det(self) -> MotDetections:
        return read_det(self.det_path)


@dataclass(frozen=True)
class MotVideo:
    """The detector copies of one video, e.g. ``MOT17-02`` -> DPM, FRCNN, SDP."""

    name: str
    split: str
    copies: dict[str | None, MotSequence] = field(default_factory=dict)

    @property
    def detectors(self) -> list[str | None]:
        return list(self.copies)

    def copy(self, detector: str | None = "FRCNN") -> MotSequence:
        """The copy of ``detector``; a video without detector copies returns its only one."""
        if None in self.copies and len(self.copies) == 1:
            return self.copies[None]
        if detector not in self.copies:
            raise FileNotFoundError(
                f"{self.split}/{self.name}: no {detector} copy (have "
                f"{', '.join(str(d) for d in self.copies)})"
            )
        return self.copies[detector]

    @property
    def info(self) -> SeqInfo:
        """The shared ``seqinfo.ini`` values (of the first copy)."""
        return next(iter(self.copies.values())).info


class Mot17Layout:
    """Sequences of a raw MOT17-style tree rooted at ``root`` (holding ``train/`` and/or
    ``test/``), e.g. the release or the half split written by ``gen_mot_data.py``."""

    def __init__(self, root: str | os.PathLike):
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"MOT17 directory not found: {self.root}")
        self._sequences: dict[str, list[MotSequence]] = {}

    def split_dir(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"unknown MOT17 split {split!r}: expected one of {SPLITS}")
        return os.path.join(self.root, split)

    def has_split(self, split: str) -> bool:
        return os.path.isdir(self.split_dir(split))

    def sequences(self, split: str, detector: str | None = None) -> list[MotSequence]:
        """Every sequence folder of ``split`` sorted by name (only ``detector``'s copies if
        given; a video without detector copies is kept for any ``detector``)."""
        if split not in self._sequences:
            self._sequences[split] = self._scan(split)
        seqs = self._sequences[split]
        if detector is not None:
            seqs = [s for s in seqs if s.detector in (detector, None)]
        return list(seqs)

    def _scan(self, split: str) -> list[MotSequence]:
        split_dir = self.split_dir(split)
        if not os.path.isdir(split_dir):
            raise FileNotFoundError(
                f"MOT17 {split} folder not found: {split_dir} (expected "
                f"<root>/{split}/MOT17-XX-<detector>/seqinfo.ini)"
            )
        out = []
        for name in sorted(os.listdir(split_dir)):
            path = os.path.join(split_dir, name)
            if name.startswith(".") or not os.path.isfile(os.path.join(path, "seqinfo.ini")):
                continue
            parse_sequence_name(name)
            out.append(MotSequence(path, read_seqinfo(os.path.join(path, "seqinfo.ini"))))
        if not out:
            raise FileNotFoundError(
                f"no sequences in {split_dir} (expected MOT17-XX-<detector>/seqinfo.ini folders)"
            )
        return out

    def videos(self, split: str) -> list[MotVideo]:
        """The sequences of ``split`` grouped by video, sorted; the copies must agree on every
        ``seqinfo.ini`` value but ``name``."""
        groups: dict[str, MotVideo] = {}
        for seq in self.sequences(split):
            video = groups.setdefault(seq.video, MotVideo(seq.video, split))
            if video.copies:
                _check_same_info(next(iter(video.copies.values())), seq)
            video.copies[seq.detector] = seq
        return [groups[k] for k in sorted(groups)]


def _check_same_info(first: MotSequence, other: MotSequence) -> None:
    a, b = first.info.replace(name=""), other.info.replace(name="")
    if a != b:
        raise CorruptFileError(
            f"{other.seqinfo_path} disagrees with {first.seqinfo_path}: the detector copies of "
            f"one video must share imDir, frameRate, seqLength, size and imExt ({b} vs {a})"
        )
