"""``BevImgCrop``: crop every camera view and update its projection post-matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hat.data.transforms.bev_views import (
    apply_post_matrices,
    check_views,
    parse_sizes,
    per_view_sizes,
)
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevImgCrop"]


@OBJECT_REGISTRY.register
class BevImgCrop:
    """Crop each view to ``size=(h, w)`` (or one size per view), keeping its bottom rows.

    As HAT: the window ends at the image's bottom edge (the sky is what is cut); horizontally it
    is centred, or at a uniformly random integer offset per view with ``random=True``.
    ``img_aug`` gains the shift ``x' = x - left, y' = y - top``. A view smaller than the window
    raises a ValueError.
    """

    def __init__(self, size: Sequence[int] | Sequence[Sequence[int]], random: bool = False) -> None:
        self.sizes = parse_sizes(size, "BevImgCrop")
        self.random = bool(random)

    def __call__(self, sample: dict) -> dict:
        imgs = check_views(sample, "BevImgCrop")
        sizes = per_view_sizes(self.sizes, len(imgs), "BevImgCrop")
        out_imgs, mats = [], []
        for i, (img, (h, w)) in enumerate(zip(imgs, sizes)):
            big_h, big_w = img.shape[:2]
            if h > big_h or w > big_w:
                raise ValueError(
                    f"BevImgCrop: crop size {(h, w)} is larger than view {i} of size "
                    f"{(big_h, big_w)} (resize first)"
                )
            top = big_h - h
            if self.random:
                left = int(np.random.randint(0, big_w - w + 1))
            else:
                left = (big_w - w) // 2
            out_imgs.append(np.ascontiguousarray(img[top : top + h, left : left + w]))
            mats.append(np.array([[1.0, 0.0, -left], [0.0, 1.0, -top], [0.0, 0.0, 1.0]]))
        return apply_post_matrices(sample, out_imgs, mats)

    def __repr__(self) -> str:
        return f"BevImgCrop(size={self.sizes}, random={self.random})"
