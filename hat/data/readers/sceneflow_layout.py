"""The raw SceneFlow (finalpass) layout and its list files.

::

    <root>/FlyingThings3D/frames_finalpass/{TRAIN,TEST}/{A,B,C}/NNNN/{left,right}/0006.png ...
    <root>/FlyingThings3D/disparity/{TRAIN,TEST}/{A,B,C}/NNNN/left/0006.pfm ...
    <root>/Driving/{frames_finalpass,disparity}/{15mm,35mm}_focallength/scene_{backwards,forwards}/
        {fast,slow}/{left,right}/NNNN.{png,pfm}
    <root>/Monkaa/{frames_finalpass,disparity}/<scene>/{left,right}/NNNN.{png,pfm}
    <root>/SceneFlow_finalpass_train.txt
    <root>/SceneFlow_finalpass_test.txt

A list file holds one sample per line: the left image, the right image and the left disparity
(``.pfm``), whitespace separated, relative to ``<root>`` (absolute paths are used as they are).
Blank lines are skipped. Left disparity is positive: left pixel ``x`` matches right pixel
``x - d``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hat.data.errors import CorruptFileError
from hat.data.readers.image import read_image
from hat.data.readers.pfm import read_pfm

__all__ = [
    "SPLIT_NAMES",
    "SUBSETS",
    "SceneFlowLayout",
    "StereoEntry",
    "check_sample_shapes",
    "list_file_name",
    "read_list_file",
]

SPLIT_NAMES = ("train", "test")
SUBSETS = ("FlyingThings3D", "Driving", "Monkaa")


def list_file_name(split: str) -> str:
    """``SceneFlow_finalpass_<split>.txt``; ``split`` is ``"train"`` or ``"test"``."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown SceneFlow split {split!r}: expected one of {SPLIT_NAMES}")
    return f"SceneFlow_finalpass_{split}.txt"


@dataclass(frozen=True)
class StereoEntry:
    """One list line: relative ``left``, ``right``, ``disp`` paths and where it was listed."""

    left: str
    right: str
    disp: str
    source: str  # "<list file>:<line number>"


def read_list_file(path: str | os.PathLike) -> list[StereoEntry]:
    """Parse a three-column list file; raise naming the file and line of any bad line."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"SceneFlow list file not found: {path}") from None
    entries = []
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise CorruptFileError(
                f"{path}:{lineno}: bad list line {line.strip()[:200]!r}: expected 3 "
                f"whitespace-separated paths (left image, right image, left disparity), "
                f"got {len(fields)}"
            )
        entries.append(StereoEntry(*fields, source=f"{path}:{lineno}"))
    if not entries:
        raise CorruptFileError(f"{path}: empty list file: expected one 'left right disp' line")
    return entries


class SceneFlowLayout:
    """Paths and samples of a raw SceneFlow tree rooted at ``root``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"SceneFlow directory not found: {self.root}")

    def list_file(self, split: str) -> str:
        """The path of the split's list file (which must exist)."""
        path = os.path.join(self.root, list_file_name(split))
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"SceneFlow list file {list_file_name(split)} not found in {self.root} "
                f"(looked for {path})"
            )
        return path

    def resolve_list(self, data_list: str | os.PathLike) -> str:
        """A list file given as a path: relative to ``root`` if it exists there, else as given."""
        data_list = os.fspath(data_list)
        under_root = os.path.join(self.root, data_list)
        return under_root if os.path.isfile(under_root) else data_list

    def entries(self, split: str | None = None, data_list: str | None = None) -> list[StereoEntry]:
        """The samples of ``data_list`` if given, else of the split's list file."""
        if data_list is not None:
            return read_list_file(self.resolve_list(data_list))
        if split is None:
            raise ValueError("SceneFlowLayout.entries: give a split or a data_list")
        return read_list_file(self.list_file(split))

    def paths(self, entry: StereoEntry) -> tuple[str, str, str]:
        """Absolute-or-root-relative ``(left, right, disp)`` paths of an entry."""
        return tuple(os.path.join(self.root, p) for p in (entry.left, entry.right, entry.disp))

    def read_sample(
        self, entry: StereoEntry, to_rgb: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(left, right, disp)``: two ``(H, W, 3)`` uint8 images, ``(H, W)`` float32.

        Errors name the file and the list line that refers to it.
        """
        left_path, right_path, disp_path = self.paths(entry)
        try:
            left = read_image(left_path, to_rgb)
            right = read_image(right_path, to_rgb)
            disp = read_pfm(disp_path)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{exc} (listed at {entry.source})") from None
        except CorruptFileError as exc:
            raise CorruptFileError(f"{exc} (listed at {entry.source})") from None
        check_sample_shapes(left, right, disp, entry)
        return left, right, disp


def check_sample_shapes(
    left: np.ndarray, right: np.ndarray, disp: np.ndarray, entry: StereoEntry
) -> None:
    """Raise a CorruptFileError unless left, right and the 1-channel disparity share a size."""
    if disp.ndim != 2:
        raise CorruptFileError(
            f"{entry.disp}: disparity has shape {disp.shape}, expected a 1-channel (Pf) map "
            f"(listed at {entry.source})"
        )
    if left.shape[:2] != disp.shape or right.shape != left.shape:
        raise CorruptFileError(
            f"SceneFlow sample sizes differ (listed at {entry.source}): {entry.left} "
            f"{left.shape}, {entry.right} {right.shape}, {entry.disp} {disp.shape}"
        )
