"""What the ``Seq*`` transforms share: the clip's frames, and the per-box arrays of a frame.

A clip is ``{"frames": [frame, ...], ...}`` (see :mod:`hat.data.datasets.mot17`); a frame holds
``"img"`` and per-box arrays ``"gt_*"`` whose first dimension is the number of boxes ``N``
(``gt_bboxes`` ``(N, 4)`` x1 y1 x2 y2 pixels, ``gt_ids``, ``gt_classes``, ...). A geometric
transform draws its random parameters once per clip and applies them to every frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["clip_frames", "image_size", "keep_boxes", "map_frames", "clip_boxes_to_image"]


def clip_frames(clip: Any, who: str) -> list[dict]:
    """The clip's frame dicts; a TypeError naming ``who`` unless ``clip`` is a clip."""
    frames = clip.get("frames") if isinstance(clip, dict) else None
    if not isinstance(frames, list) or not all(isinstance(f, dict) for f in frames):
        got = f"a dict with keys {sorted(clip)}" if isinstance(clip, dict) else type(clip).__name__
        raise TypeError(
            f"{who}: expected a clip {{'frames': [frame dicts]}} (Mot17Dataset's item), got {got}"
        )
    if not frames:
        raise ValueError(f"{who}: the clip has no frames")
    return frames


def map_frames(clip: dict, who: str, fn: Callable[[dict], dict]) -> dict:
    """A new clip whose frames are ``fn(frame)`` (other keys kept)."""
    frames = clip_frames(clip, who)
    return {**clip, "frames": [fn(dict(f)) for f in frames]}


def image_size(img: Any, who: str) -> tuple[int, int]:
    """``(height, width)`` of an ``(H, W, C)`` array or a ``(C, H, W)`` tensor."""
    if isinstance(img, np.ndarray) and img.ndim == 3:
        return int(img.shape[0]), int(img.shape[1])
    if isinstance(img, torch.Tensor) and img.dim() == 3:
        return int(img.shape[1]), int(img.shape[2])
    raise TypeError(
        f"{who}: 'img' must be an (H, W, C) array or a (C, H, W) tensor, got "
        f"{type(img).__name__} of shape {getattr(img, 'shape', None)}"
    )


def _num_boxes(frame: dict) -> int | None:
    boxes = frame.get("gt_bboxes")
    return None if boxes is None else int(boxes.shape[0])


def keep_boxes(frame: dict, keep: Any) -> dict:
    """``frame`` with only the boxes where ``keep`` (bool ``(N,)``) holds, in every ``gt_*``
    array of ``N`` rows (boxes, ids, classes, ...)."""
    n = _num_boxes(frame)
    if n is None:
        return frame
    out = dict(frame)
    for key, value in frame.items():
        if key.startswith("gt_") and isinstance(value, (np.ndarray, torch.Tensor)):
            if value.ndim >= 1 and value.shape[0] == n:
                out[key] = value[keep]
    return out


def clip_boxes_to_image(
    frame: dict, height: int, width: int, clip: bool = True, drop_outside: bool = True
) -> dict:
    """Boxes clipped to ``[0, width] x [0, height]`` (``clip``), and boxes with nothing inside
    the image dropped with their ids (``drop_outside``), as MOTR's crop does."""
    boxes = frame.get("gt_bboxes")
    if boxes is None or not (clip or drop_outside):
        return frame
    boxes = np.array(boxes, np.float32)
    inside = boxes.copy()
    inside[:, 0::2] = np.clip(inside[:, 0::2], 0, width)
    inside[:, 1::2] = np.clip(inside[:, 1::2], 0, height)
    out = dict(frame)
    out["gt_bboxes"] = inside if clip else boxes
    keep = (inside[:, 2] > inside[:, 0]) & (inside[:, 3] > inside[:, 1])
    return keep_boxes(out, keep) if drop_outside and not keep.all() else out
