"""Pack a MOT17 split into an LMDB, one record per frame (schema: :mod:`hat.data.codecs.mot17`).

The source is a MOT17-style tree (the half split written by ``gen_mot_data.py`` or the release
itself): ``<src>/<split>/MOT17-XX-<detector>/{seqinfo.ini, img1/, gt/gt.txt}``. One detector copy
per video is packed (FRCNN by default, as the split keeps); the frames of each sequence go under
consecutive keys in frame order, sequences sorted by name. Track ids become global as in HAT:
``video_index * 1_000_000 + id`` (``video_index``: the video's rank in the sorted split).

The test split also gets ``<target>/test_gt/<seq>/gt/gt.txt`` and ``seqinfo.ini`` (copied from the
source): the ground truth the MOT evaluator reads. The LMDB and ``test_gt`` are both built beside
their targets and moved into place only when everything was read: any bad frame, Ctrl-C or
SIGTERM leaves neither.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np

from hat.data.codecs.mot17 import GT_FIELDS, ID_OFFSET, IMG_FORMATS, encode_frame
from hat.data.errors import CorruptFileError
from hat.data.pack_type.leftovers import remove_dead_leftovers
from hat.data.packers.base import SamplePacker
from hat.data.readers.mot17_files import MotGroundTruth, SeqInfo
from hat.data.readers.mot17_layout import SPLITS, Mot17Layout, MotSequence

__all__ = ["Mot17FrameSample", "Mot17Packer", "frame_targets_by_frame", "load_frame_value"]


@dataclass(frozen=True)
class Mot17FrameSample:
    """Everything a reader process needs for one frame: the image path and its boxes."""

    image_path: str
    seq_name: str
    frame_id: int
    info: SeqInfo
    gt: dict[str, np.ndarray]


def load_frame_value(layout: Any, sample: Mot17FrameSample, img_format: str = "jpg") -> dict:
    """Read one frame's image file and return its LMDB value (``layout`` is unused: the sample
    carries its boxes)."""
    try:
        with open(sample.image_path, "rb") as f:
            img = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"image of frame {sample.frame_id} of {sample.seq_name} not found: {sample.image_path}"
        ) from None
    return encode_frame(
        img,
        seq_name=sample.seq_name,
        frame_id=sample.frame_id,
        height=sample.info.im_height,
        width=sample.info.im_width,
        frame_rate=sample.info.frame_rate,
        seq_length=sample.info.seq_length,
        gt=sample.gt,
        img_format=img_format,
        where=sample.image_path,
    )


def frame_targets_by_frame(
    gt: MotGroundTruth, seq_length: int, video_index: int, gt_path: str
) -> list[dict[str, np.ndarray]]:
    """The boxes of each frame ``1..seq_length`` (list index ``frame - 1``), rows in file order,
    as :data:`~hat.data.codecs.mot17.GT_FIELDS` arrays; a row past ``seq_length`` is an error
    naming the file and line."""
    late = np.flatnonzero(gt.frames > seq_length)
    if late.size:
        row = int(late[0])
        raise CorruptFileError(
            f"{gt_path}, line {int(gt.lines[row])}: frame {int(gt.frames[row])} is past the "
            f"sequence's end (seqLength={seq_length})"
        )
    order = np.argsort(gt.frames, kind="stable")
    bounds = np.searchsorted(gt.frames[order], np.arange(1, seq_length + 2))
    boxes, ids = gt.boxes_xyxy(), gt.ids + video_index * ID_OFFSET
    out = []
    for f in range(seq_length):
        rows = order[bounds[f] : bounds[f + 1]]
        out.append(
            {
                "gt_bboxes": boxes[rows],
                "gt_ids": ids[rows],
                "gt_classes": gt.classes[rows],
                "gt_consider": gt.consider[rows],
                "gt_visibility": gt.visibility[rows],
            }
        )
    return out


def _no_boxes() -> dict[str, np.ndarray]:
    return {k: np.zeros((0, *tail), dtype) for k, (dtype, tail) in GT_FIELDS.items()}


class Mot17Packer(SamplePacker):
    """Pack split ``split_name`` of the MOT17-style tree at ``src_data_dir``.

    Args:
        src_data_dir: the directory holding ``train/`` and ``test/`` (e.g. ``MOT17/split_data``).
        target_data_dir: directory that receives ``<split>_lmdb`` (and ``test_gt``; default
            ``src_data_dir``); a path already ending in ``<split>_lmdb`` is the LMDB itself.
        split_name: ``"train"`` or ``"test"``.
        num_workers: reader processes; 0 or 1 reads in this process.
        pack_type: only ``"lmdb"``.
        img_format: only ``"jpg"`` (the files' bytes as stored).
        overwrite: replace existing targets once the new ones are complete.
        num_samples: pack only the first N frames (for quick experiments).
        detector: which copy of each video to pack (a video without copies is packed as is).
    """

    load_value = staticmethod(load_frame_value)
    unit = "frame"
    chunksize = 8
    commit_every = 64

    def __init__(
        self,
        src_data_dir: str,
        target_data_dir: str | None = None,
        split_name: str = "train",
        num_workers: int = 4,
        pack_type: str = "lmdb",
        img_format: str = "jpg",
        overwrite: bool = False,
        num_samples: int | None = None,
        detector: str = "FRCNN",
    ) -> None:
        super().__init__(
            src_data_dir,
            target_data_dir,
            split_name,
            num_workers,
            pack_type,
            img_format,
            overwrite,
            splits=SPLITS,
            img_formats=IMG_FORMATS,
        )
        self.layout = None  # each sample carries its boxes; readers only open images
        self.sequences = [
            video.copy(detector) for video in Mot17Layout(src_data_dir).videos(split_name)
        ]
        self.samples = self._list_frames()
        if num_samples is not None:
            self.samples = self.samples[: int(num_samples)]
        if not self.samples:
            raise ValueError(f"{src_data_dir}: the {split_name!r} split has no frames to pack")
        with_gt = [s for s in self.sequences if s.has_gt]
        self.gt_target = (
            os.path.join(os.path.dirname(os.path.abspath(self.target)), f"{split_name}_gt")
            if split_name == "test" and with_gt
            else None
        )
        if self.gt_target is not None and os.path.lexists(self.gt_target) and not overwrite:
            raise FileExistsError(
                f"{self.gt_target} already exists; refusing to overwrite it (pass --overwrite, "
                "or choose another target)"
            )

    def _list_frames(self) -> list[Mot17FrameSample]:
        samples = []
        for video_index, seq in enumerate(self.sequences):
            paths = seq.image_paths()  # checks the image count against seqLength
            n = seq.info.seq_length
            if seq.has_gt:
                targets = frame_targets_by_frame(seq.read_gt(), n, video_index, seq.gt_path)
            else:
                targets = [_no_boxes() for _ in range(n)]
            for frame, (path, gt) in enumerate(zip(paths, targets, strict=True), start=1):
                samples.append(Mot17FrameSample(path, seq.name, frame, seq.info, gt))
        return samples

    def __call__(self) -> int:
        """Pack (and copy the test ground truth); return the number of frames written."""
        if self.gt_target is None:
            return super().__call__()
        staged = self._stage_gt()
        try:
            count = super().__call__()
            _move_into_place(staged, self.gt_target)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return count

    run = __call__

    def _stage_gt(self) -> str:
        """Copy every sequence's ``gt/gt.txt`` and ``seqinfo.ini`` beside ``gt_target``."""
        assert self.gt_target is not None
        os.makedirs(os.path.dirname(self.gt_target), exist_ok=True)
        remove_dead_leftovers(self.gt_target)
        staged = f"{self.gt_target}.tmp-{os.getpid()}"
        shutil.rmtree(staged, ignore_errors=True)
        try:
            for seq in self.sequences:
                _copy_gt(seq, os.path.join(staged, seq.name))
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return staged


def _copy_gt(seq: MotSequence, dst: str) -> None:
    if not seq.has_gt:
        return
    os.makedirs(os.path.join(dst, "gt"))
    shutil.copyfile(seq.gt_path, os.path.join(dst, "gt", "gt.txt"))
    shutil.copyfile(seq.seqinfo_path, os.path.join(dst, "seqinfo.ini"))


def _move_into_place(staged: str, target: str) -> None:
    old = None
    if os.path.lexists(target):
        old = f"{target}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
    try:
        os.rename(staged, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
