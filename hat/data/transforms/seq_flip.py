"""``SeqRandomFlip``: one flip decision per clip, applied to every frame and its boxes."""

from __future__ import annotations

import random

import numpy as np
import torch

from hat.data.transforms.seq_clip import image_size, map_frames
from hat.registry import OBJECT_REGISTRY

__all__ = ["SeqRandomFlip", "flip_frame"]


def flip_frame(frame: dict, horizontal: bool, vertical: bool) -> dict:
    """Mirror a frame's image (``(H, W, C)`` array or ``(C, H, W)`` tensor) and its boxes:
    ``x1' = W - x2, x2' = W - x1`` (and likewise in y)."""
    img = frame["img"]
    height, width = image_size(img, "SeqRandomFlip")
    if isinstance(img, np.ndarray):
        if horizontal:
            img = img[:, ::-1]
        if vertical:
            img = img[::-1]
        frame["img"] = np.ascontiguousarray(img)
    else:
        dims = [d for d, on in ((-1, horizontal), (-2, vertical)) if on]
        frame["img"] = img.flip(dims) if dims else img
    boxes = frame.get("gt_bboxes")
    if boxes is not None:
        flipped = boxes.clone() if isinstance(boxes, torch.Tensor) else np.array(boxes)
        if horizontal:
            flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
        if vertical:
            flipped[:, 1], flipped[:, 3] = height - boxes[:, 3], height - boxes[:, 1]
        frame["gt_bboxes"] = flipped
    return frame


@OBJECT_REGISTRY.register
class SeqRandomFlip:
    """Flip the whole clip horizontally with probability ``px``, then vertically with
    probability ``py`` (one draw each per clip, so every frame is flipped alike)."""

    def __init__(self, px: float = 0.5, py: float = 0.0) -> None:
        for name, p in (("px", px), ("py", py)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"SeqRandomFlip: {name} must be a probability in [0, 1], got {p}")
        self.px, self.py = float(px), float(py)

    def __call__(self, clip: dict) -> dict:
        horizontal = self.px > 0 and random.random() < self.px
        vertical = self.py > 0 and random.random() < self.py
        if not (horizontal or vertical):
            return clip
        return map_frames(clip, "SeqRandomFlip", lambda f: flip_frame(f, horizontal, vertical))

    def __repr__(self) -> str:
        return f"SeqRandomFlip(px={self.px}, py={self.py})"
