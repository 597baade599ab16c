"""``SeqRandomSizeCrop``: one crop window per clip (MOTR's ``MotRandomSizeCrop``)."""

from __future__ import annotations

import random

import numpy as np

from hat.data.transforms.seq_clip import clip_boxes_to_image, clip_frames, image_size, map_frames
from hat.registry import OBJECT_REGISTRY

__all__ = ["SeqRandomSizeCrop", "crop_frame"]


def crop_frame(
    frame: dict,
    top: int,
    left: int,
    height: int,
    width: int,
    clip: bool = True,
    drop_outside: bool = True,
) -> dict:
    """The window ``[top, top + height) x [left, left + width)`` of a frame; boxes shifted,
    clipped to it (``clip``), and dropped with their ids when nothing of them is left inside
    (``drop_outside``)."""
    img = frame["img"]
    if not isinstance(img, np.ndarray):
        raise TypeError("SeqRandomSizeCrop: 'img' must be an (H, W, C) array (before SeqToTensor)")
    frame["img"] = np.ascontiguousarray(img[top : top + height, left : left + width])
    if frame.get("gt_bboxes") is None:
        return frame
    shift = np.array([left, top, left, top], np.float32)
    frame["gt_bboxes"] = np.asarray(frame["gt_bboxes"], np.float32) - shift
    return clip_boxes_to_image(frame, height, width, clip, drop_outside)


@OBJECT_REGISTRY.register
class SeqRandomSizeCrop:
    """Crop every frame of a clip to one random window: width drawn in
    ``[min_size, min(W, max_size)]``, height in ``[min_size, min(H, max_size)]``, position
    uniform (MOTR's ``MotRandomSizeCrop``); a side shorter than ``min_size`` is kept whole.
    Boxes are clipped to the window (``rm_neg_coords``); those with nothing inside it are dropped
    with their ids (``filter_area``). HAT's argument names; both default to MOTR's behaviour."""

    def __init__(
        self, min_size: int, max_size: int, filter_area: bool = True, rm_neg_coords: bool = True
    ) -> None:
        if not 1 <= int(min_size) <= int(max_size):
            raise ValueError(
                f"SeqRandomSizeCrop: need 1 <= min_size <= max_size, got {min_size}, {max_size}"
            )
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.filter_area, self.rm_neg_coords = filter_area, rm_neg_coords

    def draw_window(self, height: int, width: int) -> tuple[int, int, int, int]:
        """``(top, left, crop_height, crop_width)`` for an ``height x width`` image."""
        crop_w = random.randint(min(self.min_size, width), min(width, self.max_size))
        crop_h = random.randint(min(self.min_size, height), min(height, self.max_size))
        top = random.randint(0, height - crop_h)
        left = random.randint(0, width - crop_w)
        return top, left, crop_h, crop_w

    def __call__(self, clip: dict) -> dict:
        frames = clip_frames(clip, "SeqRandomSizeCrop")
        sizes = {image_size(f["img"], "SeqRandomSizeCrop") for f in frames}
        height, width = min(s[0] for s in sizes), min(s[1] for s in sizes)
        window = self.draw_window(height, width)
        fit = (self.rm_neg_coords, self.filter_area)
        return map_frames(clip, "SeqRandomSizeCrop", lambda f: crop_frame(f, *window, *fit))

    def __repr__(self) -> str:
        return (
            f"SeqRandomSizeCrop(min_size={self.min_size}, max_size={self.max_size}, "
            f"filter_area={self.filter_area}, rm_neg_coords={self.rm_neg_coords})"
        )
