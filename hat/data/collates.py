"""Collate functions for the DataLoader."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["collate_2d", "collate_mot_clips"]


def collate_2d(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch.

    - tensors / numpy arrays of equal shape -> stacked ``(B, ...)`` tensor (unequal -> list);
      mixed dtypes (e.g. uint8 and float32 images) are promoted to the common one;
    - numbers -> 1-D tensor (bools, ints int64, floats float32);
    - strings, bytes, None -> list;
    - dicts -> dict collated key by key (recursively);
    - lists/tuples of equal length -> transposed and collated position by position (a per-sample
      pair ``[t1, t2]`` becomes ``[stack(t1s), stack(t2s)]``); unequal lengths -> list of lists.
    """
    if len(batch) == 0:
        raise ValueError("collate_2d: empty batch")
    elem = batch[0]
    if isinstance(elem, torch.Tensor):
        return _stack([torch.as_tensor(b) for b in batch])
    if isinstance(elem, np.ndarray) and elem.dtype.kind in "biufc":
        return _stack([torch.as_tensor(np.asarray(b)) for b in batch])
    if isinstance(elem, (bool, np.bool_)):
        return torch.tensor([bool(b) for b in batch])
    if isinstance(elem, (int, np.integer)):
        return torch.tensor([int(b) for b in batch], dtype=torch.int64)
    if isinstance(elem, (float, np.floating)):
        return torch.tensor([float(b) for b in batch], dtype=torch.float32)
    if elem is None or isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        missing = [k for k in elem if any(k not in b for b in batch)]
        if missing:
            raise KeyError(f"collate_2d: keys {missing} are missing from some samples")
        return {k: collate_2d([b[k] for b in batch]) for k in elem}
    if isinstance(elem, Sequence):
        if len({len(b) for b in batch}) != 1:
            return [list(b) for b in batch]
        return [collate_2d(list(items)) for items in zip(*batch)]
    return list(batch)


def collate_mot_clips(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge clips (``{"frames": [frame, ...]}``, :mod:`hat.data.datasets.mot17`) of one length
    ``L`` into ``{"frames": [batch of frame 0, ..., batch of frame L-1], "clip_length": L}``.

    Frame ``t`` of every clip is collated key by key: ``gt_*`` arrays become lists of ``B``
    tensors (each clip has its own number of boxes); the rest as :func:`collate_2d` does (images
    of one shape stacked to ``(B, C, H, W)``, ``frame_id`` a tensor, ``seq_name`` a list).
    """
    if len(batch) == 0:
        raise ValueError("collate_mot_clips: empty batch")
    for i, clip in enumerate(batch):
        if not isinstance(clip, Mapping) or not isinstance(clip.get("frames"), list):
            raise TypeError(f"collate_mot_clips: sample {i} is not a clip {{'frames': [...]}}")
    lengths = [len(clip["frames"]) for clip in batch]
    if len(set(lengths)) != 1 or lengths[0] == 0:
        raise ValueError(
            f"collate_mot_clips: clips of one batch must have one non-zero length, got {lengths}"
        )
    frames = []
    for t in range(lengths[0]):
        column = [clip["frames"][t] for clip in batch]
        frames.append(
            {
                key: [torch.as_tensor(f[key]) for f in column]
                if key.startswith("gt_")
                else collate_2d([f[key] for f in column])
                for key in column[0]
            }
        )
    return {"frames": frames, "clip_length": lengths[0]}


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    if len({tuple(t.shape) for t in tensors}) != 1:
        return tensors
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors))
    tensors = [t.to(dtype) for t in tensors]
    out = None
    if torch.utils.data.get_worker_info() is not None:
        # in a worker: stack straight into shared memory, saving a copy when sent to the parent
        first = tensors[0]
        numel = sum(t.numel() for t in tensors)
        storage = first._typed_storage()._new_shared(numel, device=first.device)
        out = first.new(storage).resize_(len(tensors), *first.shape)
    return torch.stack(tensors, 0, out=out)
