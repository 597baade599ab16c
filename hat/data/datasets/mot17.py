"""MOT17 clip datasets for MOTR: packed LMDB (training, validation) and raw frames (align_bpu).

Item (before transforms), a clip of ``L`` frames of one sequence::

    {"frames": [                     # L dicts, in time order
        {"img": (H, W, 3) uint8,     # RGB when to_rgb else BGR
         "gt_bboxes": (N, 4) float32 x1 y1 x2 y2 pixels,
         "gt_ids": (N,) int64,       # global: video_index * 1_000_000 + gt.txt id
         "gt_classes": (N,) int64,   # MOT classes
         "seq_name": str, "frame_id": int (1-based),
         "ori_shape": (2,) int64 [H, W]},
        ...]}

With ``pedestrians_only`` (default) the targets are the considered pedestrians (class 1 with
the consider flag set), as MOTR's and HAT's loaders keep.

**Clip sampling** (MOTR's ``sample_mode``/``sampler_lengths``/``sampler_steps``): the dataset is
indexed by frame. Index ``i`` gives a clip of the current length ``L`` (``sampler_lengths[k]``
where ``k`` is the number of ``sampler_steps`` reached by the epoch set with :meth:`set_epoch`;
:class:`~hat.data.epoch_sampler.DistSetEpochDatasetSampler` calls it) whose frames are ``s``
frames apart: ``s = sample_interval`` (``"fixed_interval"``) or drawn from
``1..sample_interval`` per item (``"random_interval"``). A clip never crosses sequences: it
starts at frame ``i``, or earlier when the clip would run past the sequence's last frame, and
``s`` is lowered when the sequence is too short for it. With ``sampler_lengths=[1]`` (the
validation loader) item ``i`` is frame ``i`` alone, in storage order: sequences sorted by name,
frames in time order, what a tracker needs.

The epoch lives in shared memory, so DataLoader workers (persistent or not, forked or spawned)
see the current clip length.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from hat.data.codecs.mot17 import FrameHeader, Mot17Frame, decode_frame, read_frame_header
from hat.data.datasets.base import LmdbRecordDataset, SampleDataset, Transforms
from hat.data.errors import CorruptFileError
from hat.data.memory import tune_malloc
from hat.data.packers.mot17 import frame_targets_by_frame
from hat.data.readers.mot17_files import read_seqinfo
from hat.data.readers.mot17_layout import MotSequence, parse_sequence_name
from hat.registry import OBJECT_REGISTRY

__all__ = ["SAMPLE_MODES", "ClipSampling", "Mot17Dataset", "Mot17FromImage", "SequenceSpan"]

SAMPLE_MODES = ("fixed_interval", "random_interval")


@dataclass(frozen=True)
class SequenceSpan:
    """The frames of one sequence: dataset indices ``start .. start + length - 1``."""

    name: str
    start: int
    length: int


def _frame_item(frame: Mot17Frame, pedestrians_only: bool) -> dict[str, Any]:
    gt = frame.gt
    keep = (
        (gt["gt_classes"] == 1) & (gt["gt_consider"] == 1)
        if pedestrians_only
        else np.ones(len(gt["gt_ids"]), bool)
    )
    return {
        "img": frame.img,
        "gt_bboxes": gt["gt_bboxes"][keep],
        "gt_ids": gt["gt_ids"][keep],
        "gt_classes": gt["gt_classes"][keep],
        "seq_name": frame.seq_name,
        "frame_id": frame.frame_id,
        "ori_shape": np.array(frame.img.shape[:2], np.int64),
    }


class ClipSampling:
    """Which frames make clip ``i``: MOTR's lengths by epoch and frame intervals, within one
    sequence (see the module doc).

    Args:
        spans: the sequences, covering indices ``0..N-1`` in order.
        sampler_lengths: clip lengths, one per period of epochs.
        sample_mode: ``"fixed_interval"`` or ``"random_interval"``.
        sample_interval: the frame step (fixed) or its maximum (random).
        sampler_steps: the epochs where the next length starts (``len(sampler_lengths) - 1``
            increasing values); None or empty: always ``sampler_lengths[0]``.
        where: names the data in errors.
    """

    def __init__(
        self,
        spans: Sequence[SequenceSpan],
        sampler_lengths: Sequence[int],
        sample_mode: str,
        sample_interval: int,
        sampler_steps: Sequence[int] | None,
        where: str,
    ) -> None:
        lengths = [int(n) for n in sampler_lengths]
        steps = [int(s) for s in sampler_steps or ()]
        if not lengths or min(lengths) < 1:
            raise ValueError(f"sampler_lengths must be positive clip lengths, got {lengths}")
        if steps and len(steps) != len(lengths) - 1:
            raise ValueError(
                f"sampler_steps {steps} must give one epoch per change of length: "
                f"{len(lengths) - 1} values for sampler_lengths {lengths}"
            )
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError(f"sampler_steps must be increasing epochs, got {steps}")
        if sample_mode not in SAMPLE_MODES:
            raise ValueError(f"sample_mode {sample_mode!r}: expected one of {SAMPLE_MODES}")
        if int(sample_interval) < 1:
            raise ValueError(f"sample_interval must be >= 1, got {sample_interval}")
        longest = max(lengths[: len(steps) + 1])
        for span in spans:
            if span.length < longest:
                raise ValueError(
                    f"{where}: sequence {span.name} has {span.length} frames, fewer than the "
                    f"longest clip ({longest} frames, sampler_lengths={lengths})"
                )
        self.spans = list(spans)
        self.lengths, self.steps = lengths, steps
        self.sample_mode, self.sample_interval = sample_mode, int(sample_interval)
        self._starts = np.array([s.start for s in self.spans], np.int64)
        self.num_frames = sum(s.length for s in self.spans)

    def clip_length(self, epoch: int) -> int:
        """The clip length of ``epoch``."""
        if not self.steps:
            return self.lengths[0]
        return self.lengths[sum(epoch >= s for s in self.steps)]

    def span_of(self, idx: int) -> SequenceSpan:
        return self.spans[int(np.searchsorted(self._starts, idx, side="right")) - 1]

    def clip(self, idx: int, epoch: int) -> list[int]:
        """The dataset indices of clip ``idx`` at ``epoch`` (random intervals from numpy's
        global generator, which the loader seeds per sample)."""
        length = self.clip_length(epoch)
        span = self.span_of(idx)
        if length == 1:
            return [idx]
        if self.sample_mode == "random_interval":
            step = int(np.random.randint(1, self.sample_interval + 1))
        else:
            step = self.sample_interval
        step = max(1, min(step, (span.length - 1) // (length - 1)))
        last_start = span.start + span.length - 1 - (length - 1) * step
        start = min(idx, last_start)
        return [start + k * step for k in range(length)]


@OBJECT_REGISTRY.register
class Mot17Dataset(LmdbRecordDataset):
    """MOT17 clips packed by :class:`~hat.data.packers.mot17.Mot17Packer`.

    Args:
        data_path: the LMDB directory (e.g. ``tmp_data/mot17/train_lmdb``).
        transforms: applied to the clip (the ``Seq*`` transforms of
            :mod:`hat.data.transforms`), a callable, a list of them, or None.
        sampler_lengths, sample_mode, sample_interval, sampler_steps: clip sampling (module doc).
        to_rgb: images in RGB order (else BGR).
        pedestrians_only: keep only considered pedestrians as targets.
    """

    def __init__(
        self,
        data_path: str,
        transforms: Transforms = None,
        sampler_lengths: Sequence[int] = (1,),
        sample_mode: str = "fixed_interval",
        sample_interval: int = 10,
        sampler_steps: Sequence[int] | None = None,
        to_rgb: bool = True,
        pedestrians_only: bool = True,
    ) -> None:
        super().__init__(data_path, transforms, to_rgb)
        self.pedestrians_only = pedestrians_only
        self.sampling = ClipSampling(
            self._scan_sequences(),
            sampler_lengths,
            sample_mode,
            sample_interval,
            sampler_steps,
            self.data_path,
        )
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def _scan_sequences(self) -> list[SequenceSpan]:
        """One header read per sequence: record ``i`` with ``frame_id`` 1 and ``seq_length`` n
        starts a sequence whose last record is ``i + n - 1`` (checked)."""
        spans: list[SequenceSpan] = []
        idx = 0
        while idx < len(self):
            first = self._header(idx)
            if first.frame_id != 1:
                raise CorruptFileError(
                    f"{self.data_path} key {str(idx)!r}: frame {first.frame_id} of "
                    f"{first.seq_name} where a sequence's first frame was expected: the records "
                    "are not stored sequence by sequence (pack with Mot17Packer)"
                )
            length = min(first.seq_length, len(self) - idx)  # a pack cut by --num-samples
            last = self._header(idx + length - 1)
            if (last.seq_name, last.frame_id) != (first.seq_name, length):
                raise CorruptFileError(
                    f"{self.data_path} key {str(idx + length - 1)!r}: expected frame {length} of "
                    f"{first.seq_name}, found frame {last.frame_id} of {last.seq_name}"
                )
            spans.append(SequenceSpan(first.seq_name, idx, length))
            idx += length
        return spans

    def _header(self, idx: int) -> FrameHeader:
        with self.reader.view(idx) as value:
            return read_frame_header(value, f"{self.data_path} key {str(idx)!r}")

    @property
    def sequences(self) -> list[SequenceSpan]:
        return self.sampling.spans

    def set_epoch(self, epoch: int) -> None:
        """Sample clips of ``epoch``'s length from now on (in workers too)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    @property
    def clip_length(self) -> int:
        return self.sampling.clip_length(self.epoch)

    def clip_indices(self, idx: int) -> list[int]:
        """The frame indices of item ``idx`` at the current epoch."""
        return self.sampling.clip(self._index(idx), self.epoch)

    def __getitem__(self, idx: int) -> dict:
        tune_malloc()
        clip = {"frames": [self._load(i) for i in self.clip_indices(idx)]}
        return self.transforms(clip) if self.transforms is not None else clip

    def _decode_record(self, value: Any, idx: int, where: str, copy: bool) -> dict:
        return _frame_item(decode_frame(value, self.to_rgb, where), self.pedestrians_only)

    def _repr_source(self) -> str:
        s = self.sampling
        return (
            f"sampler_lengths={s.lengths}, sampler_steps={s.steps}, "
            f"sample_mode={s.sample_mode!r}, sample_interval={s.sample_interval}, "
        )


@OBJECT_REGISTRY.register
class Mot17FromImage(SampleDataset):
    """Single-frame clips (the item format of :class:`Mot17Dataset`) read from raw frames, in
    order: sequences sorted by name, frames in time order (e.g. for align_bpu with batch 1).

    Args:
        data_path: a folder of sequences, each ``<seq>/{seqinfo.ini, img1/, gt/gt.txt}``
            (e.g. ``MOT17/split_data/test``); ``gt.txt`` is optional.
        transforms: applied to each clip.
        to_rgb: images in RGB order (else BGR).
        pedestrians_only: keep only considered pedestrians as targets.
    """

    def __init__(
        self,
        data_path: str,
        transforms: Transforms = None,
        to_rgb: bool = True,
        pedestrians_only: bool = True,
    ) -> None:
        super().__init__(data_path, transforms, to_rgb)
        self.pedestrians_only = pedestrians_only
        if not os.path.isdir(self.data_path):
            raise FileNotFoundError(f"MOT17 sequence folder not found: {self.data_path}")
        names = sorted(
            n
            for n in os.listdir(self.data_path)
            if os.path.isfile(os.path.join(self.data_path, n, "seqinfo.ini"))
        )
        if not names:
            raise FileNotFoundError(
                f"no sequences in {self.data_path} (expected <seq>/seqinfo.ini folders)"
            )
        videos = sorted({parse_sequence_name(n)[0] for n in names})
        self.frames: list[tuple[MotSequence, int, int]] = []  # (sequence, video index, frame)
        for name in names:
            path = os.path.join(self.data_path, name)
            seq = MotSequence(path, read_seqinfo(os.path.join(path, "seqinfo.ini")))
            seq.check_images()
            video_index = videos.index(seq.video)
            self.frames += [(seq, video_index, f) for f in range(1, seq.info.seq_length + 1)]
        self._targets: dict[str, list[dict[str, np.ndarray]]] = {}

    def __len__(self) -> int:
        return len(self.frames)

    def _gt(self, seq: MotSequence, video_index: int, frame: int) -> dict[str, np.ndarray]:
        if seq.name not in self._targets:
            n = seq.info.seq_length
            if seq.has_gt:
                by_frame = frame_targets_by_frame(seq.read_gt(), n, video_index, seq.gt_path)
            else:
                empty = {
                    "gt_bboxes": np.zeros((0, 4), np.float32),
                    "gt_ids": np.zeros(0, np.int64),
                    "gt_classes": np.zeros(0, np.int64),
                    "gt_consider": np.zeros(0, np.uint8),
                    "gt_visibility": np.zeros(0, np.float32),
                }
                by_frame = [empty] * n
            self._targets[seq.name] = by_frame
        return self._targets[seq.name][frame - 1]

    def _load(self, idx: int) -> dict:
        seq, video_index, frame = self.frames[idx]
        path = seq.image_path(frame)
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise CorruptFileError(f"{path}: cannot read the image of frame {frame}")
        expected = (seq.info.im_height, seq.info.im_width, 3)
        if img.shape != expected:
            raise CorruptFileError(
                f"{path}: image is {img.shape[1]}x{img.shape[0]} but {seq.seqinfo_path} says "
                f"{expected[1]}x{expected[0]}"
            )
        if self.to_rgb:
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)
        gt = self._gt(seq, video_index, frame)
        frame_data = Mot17Frame(img, seq.name, frame, seq.info.frame_rate, seq.info.seq_length, gt)
        return {"frames": [_frame_item(frame_data, self.pedestrians_only)]}
