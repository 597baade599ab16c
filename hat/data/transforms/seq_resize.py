"""``SeqResize``: one output size per clip (HAT's ``Resize`` scales), every frame and its boxes."""

from __future__ import annotations

import random
from collections.abc import Sequence

import cv2
import numpy as np

from hat.data.transforms.seq_clip import clip_boxes_to_image, clip_frames, image_size, map_frames
from hat.registry import OBJECT_REGISTRY

__all__ = ["MULTISCALE_MODES", "SeqResize", "resized_size"]

MULTISCALE_MODES = ("value", "range")


def resized_size(
    height: int, width: int, scale: tuple[int, int], keep_ratio: bool, divisor: int = 1
) -> tuple[int, int]:
    """``(new_height, new_width)`` for ``scale = (h, w)``.

    ``keep_ratio``: the largest size of the same aspect whose short side is at most
    ``min(scale)`` and long side at most ``max(scale)`` (mmcv's/HAT's rule; ``(800, 1333)`` makes
    the short side 800 unless the long side would pass 1333). Otherwise exactly ``scale``. Each
    side is then rounded down to a multiple of ``divisor`` (at least ``divisor``).
    """
    if keep_ratio:
        factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
        new_h, new_w = int(height * factor + 0.5), int(width * factor + 0.5)
    else:
        new_h, new_w = int(scale[0]), int(scale[1])
    return (max(divisor, new_h // divisor * divisor), max(divisor, new_w // divisor * divisor))


@OBJECT_REGISTRY.register
class SeqResize:
    """Resize every frame of a clip to one size drawn per clip; boxes scaled with it (clipped to
    the image; boxes left outside it dropped with their ids).

    Args:
        img_scale: an ``(h, w)`` scale or a list of them.
        multiscale_mode: ``"value"``: one of ``img_scale`` at random; ``"range"``: two scales
            bound the long and the short side, each drawn uniformly (integers).
        keep_ratio: keep the aspect ratio (see :func:`resized_size`); else resize to the scale.
        divisor: round both sides down to a multiple of it.
        rm_neg_coords: clip the boxes to the image and drop those left outside it (HAT's name);
            False only scales them.
    """

    def __init__(
        self,
        img_scale: Sequence[int] | Sequence[Sequence[int]],
        multiscale_mode: str = "value",
        keep_ratio: bool = True,
        divisor: int = 1,
        rm_neg_coords: bool = True,
    ) -> None:
        scales = [img_scale] if isinstance(img_scale[0], (int, float)) else list(img_scale)
        self.img_scale = [(int(s[0]), int(s[1])) for s in scales]  # type: ignore[index]
        if not self.img_scale or any(len(s) != 2 or min(s) < 1 for s in self.img_scale):
            raise ValueError(f"SeqResize: img_scale must be (h, w) pairs >= 1, got {img_scale!r}")
        if multiscale_mode not in MULTISCALE_MODES:
            raise ValueError(
                f"SeqResize: multiscale_mode {multiscale_mode!r}: expected one of "
                f"{MULTISCALE_MODES}"
            )
        if multiscale_mode == "range" and len(self.img_scale) != 2:
            raise ValueError(
                f"SeqResize: multiscale_mode='range' takes two scales, got {self.img_scale}"
            )
        if multiscale_mode == "range" and not keep_ratio:
            raise ValueError(
                "SeqResize: multiscale_mode='range' draws side lengths: needs keep_ratio"
            )
        if int(divisor) < 1:
            raise ValueError(f"SeqResize: divisor must be >= 1, got {divisor}")
        self.multiscale_mode = multiscale_mode
        self.keep_ratio = keep_ratio
        self.divisor = int(divisor)
        self.rm_neg_coords = rm_neg_coords

    def draw_scale(self) -> tuple[int, int]:
        """The ``(h, w)`` scale of one clip."""
        if len(self.img_scale) == 1:
            return self.img_scale[0]
        if self.multiscale_mode == "value":
            return self.img_scale[random.randrange(len(self.img_scale))]
        longs = [max(s) for s in self.img_scale]
        shorts = [min(s) for s in self.img_scale]
        long_edge = random.randint(min(longs), max(longs))
        short_edge = random.randint(min(shorts), max(shorts))
        return long_edge, short_edge  # keep_ratio only uses the sides' lengths

    def __call__(self, clip: dict) -> dict:
        clip_frames(clip, "SeqResize")
        scale = self.draw_scale()
        return map_frames(clip, "SeqResize", lambda f: self._resize(f, scale))

    def _resize(self, frame: dict, scale: tuple[int, int]) -> dict:
        img = frame["img"]
        if not isinstance(img, np.ndarray):
            raise TypeError("SeqResize: 'img' must be an (H, W, C) array (before SeqToTensor)")
        height, width = image_size(img, "SeqResize")
        new_h, new_w = resized_size(height, width, scale, self.keep_ratio, self.divisor)
        if (new_h, new_w) != (height, width):
            frame["img"] = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if frame.get("gt_bboxes") is None:
            return frame
        factor = np.array([new_w / width, new_h / height] * 2, np.float32)
        frame["gt_bboxes"] = np.asarray(frame["gt_bboxes"], np.float32) * factor
        fit = self.rm_neg_coords
        return clip_boxes_to_image(frame, new_h, new_w, clip=fit, drop_outside=fit)

    def __repr__(self) -> str:
        return (
            f"SeqResize(img_scale={self.img_scale}, multiscale_mode={self.multiscale_mode!r}, "
            f"keep_ratio={self.keep_ratio}, divisor={self.divisor}, "
            f"rm_neg_coords={self.rm_neg_coords})"
        )
