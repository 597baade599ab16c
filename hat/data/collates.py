"""Collate functions for the DataLoader."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["collate_2d", "collate_mot_clips", "collate_nuscenes"]


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


#: Per-sample maps stacked to ``(B, ...)`` though their names start with ``gt_``.
NUSCENES_STACKED_GT = ("gt_seg_mask",)


def collate_nuscenes(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge nuScenes samples (:mod:`hat.data.datasets.nuscenes`) into a batch, HAT's layout.

    - ``img`` (V views per sample: ``(C, H, W)`` tensors, or ``(H, W, C)`` arrays before
      ``BevImgTransformWrapper``) -> one ``(B * V, C, H, W)`` tensor, sample by sample (views of
      sample ``b`` are rows ``b * V ... b * V + V - 1``);
    - ``intrinsics``, ``sensor2ego``, ``cam_ego2global``, ``img_aug`` -> ``(B, V, ...)`` tensors;
      ``ego2global`` -> ``(B, 4, 4)``; ``gt_seg_mask`` -> ``(B, rows, cols)``;
    - the other ``gt_*`` (one entry per box) -> lists of ``B`` tensors; lists of strings
      (``cam_names``, ``gt_attributes``, ``gt_instance_tokens``) -> lists of ``B`` lists;
    - the rest as :func:`collate_2d` (``sample_token`` a list, ``timestamp`` a tensor, ...).
    """
    if len(batch) == 0:
        raise ValueError("collate_nuscenes: empty batch")
    keys = list(batch[0])
    missing = [k for k in keys if any(k not in b for b in batch)]
    if missing:
        raise KeyError(f"collate_nuscenes: keys {missing} are missing from some samples")
    out: dict[str, Any] = {}
    for key in keys:
        column = [b[key] for b in batch]
        if key == "img":
            out[key] = _stack_views(column)
        elif _is_str_list(column[0]):  # cam_names, gt_attributes, gt_instance_tokens
            out[key] = [list(c) for c in column]
        elif key.startswith("gt_") and key not in NUSCENES_STACKED_GT:
            out[key] = [torch.as_tensor(np.asarray(c)) for c in column]
        else:
            out[key] = collate_2d(column)
    return out


def _is_str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _stack_views(column: list[Any]) -> torch.Tensor:
    views = []
    for sample in column:
        for img in sample:
            if isinstance(img, np.ndarray):  # (H, W, C) before the tensor transforms
                img = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
            views.append(torch.as_tensor(img))
    stacked = _stack(views)
    if isinstance(stacked, list):
        shapes = sorted({tuple(v.shape) for v in views})
        raise ValueError(f"collate_nuscenes: camera views of different shapes {shapes}")
    return stacked


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
