"""The raw FlyingChairs layout and its train/val split file.

::

    <root>/FlyingChairs_release/data/00001_img1.ppm, 00001_img2.ppm, 00001_flow.flo, ...
    <root>/FlyingChairs_train_val.txt     # line i (0-based) is pair i+1: "1" = train, "2" = val

The split file is also accepted inside ``FlyingChairs_release/``, and ``root`` may be the
``FlyingChairs_release`` directory itself.
"""

from __future__ import annotations

import os

import numpy as np

from hat.data.errors import CorruptFileError
from hat.data.readers.flo import read_flo
from hat.data.readers.image import read_image

__all__ = ["SPLIT_FILE_NAME", "SPLIT_LABELS", "FlyingChairsLayout", "read_split_file"]

SPLIT_FILE_NAME = "FlyingChairs_train_val.txt"
RELEASE_DIR = "FlyingChairs_release"
SPLIT_LABELS = {"train": 1, "val": 2}


def read_split_file(path: str | os.PathLike) -> list[int]:
    """Read a split file: one label per line, 1 (train) or 2 (val); trailing blank lines ignored."""
    path = os.fspath(path)
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"split file not found: {path}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    labels = []
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if text not in ("1", "2"):
            raise CorruptFileError(
                f"{path}:{lineno}: bad split line {line!r}: expected '1' (train) or '2' (val)"
            )
        labels.append(int(text))
    if not labels:
        raise CorruptFileError(f"{path}: empty split file: expected one '1'/'2' line per pair")
    return labels


class FlyingChairsLayout:
    """Paths of a raw FlyingChairs tree rooted at ``root``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"FlyingChairs directory not found: {self.root}")
        self.data_dir = self._find_data_dir()
        self.split_file = self._find_split_file()

    def _find_data_dir(self) -> str:
        candidates = [os.path.join(self.root, RELEASE_DIR, "data"), os.path.join(self.root, "data")]
        for cand in candidates:
            if os.path.isdir(cand):
                return cand
        raise FileNotFoundError(
            f"FlyingChairs image directory not found; looked for {' and '.join(candidates)}"
        )

    def _find_split_file(self) -> str:
        release = os.path.dirname(self.data_dir)
        candidates = [
            os.path.join(self.root, SPLIT_FILE_NAME),
            os.path.join(release, SPLIT_FILE_NAME),
        ]
        if os.path.basename(release) == RELEASE_DIR:
            candidates.insert(1, os.path.join(os.path.dirname(release), SPLIT_FILE_NAME))
        for cand in dict.fromkeys(candidates):
            if os.path.isfile(cand):
                return cand
        raise FileNotFoundError(
            f"FlyingChairs split file {SPLIT_FILE_NAME} not found; looked for "
            + ", ".join(dict.fromkeys(candidates))
        )

    def pair_ids(self, split: str) -> list[int]:
        """1-based pair numbers (``00001`` -> 1) belonging to ``split`` ("train" or "val")."""
        if split not in SPLIT_LABELS:
            raise ValueError(f"unknown FlyingChairs split {split!r}: expected 'train' or 'val'")
        label = SPLIT_LABELS[split]
        return [i + 1 for i, lab in enumerate(read_split_file(self.split_file)) if lab == label]

    def pair_paths(self, pair_id: int) -> tuple[str, str, str]:
        """``(img1.ppm, img2.ppm, flow.flo)`` paths of a 1-based pair number."""
        stem = os.path.join(self.data_dir, f"{pair_id:05d}")
        return stem + "_img1.ppm", stem + "_img2.ppm", stem + "_flow.flo"

    def read_pair(
        self, pair_id: int, to_rgb: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(img1, img2, flow)`` of a pair; raises naming the file that is missing or corrupt."""
        p1, p2, pf = self.pair_paths(pair_id)
        img1, img2, flow = read_image(p1, to_rgb), read_image(p2, to_rgb), read_flo(pf)
        if img1.shape[:2] != flow.shape[:2] or img2.shape != img1.shape:
            raise CorruptFileError(
                f"FlyingChairs pair {pair_id:05d}: sizes differ: {p1} {img1.shape}, "
                f"{p2} {img2.shape}, {pf} {flow.shape}"
            )
        return img1, img2, flow
