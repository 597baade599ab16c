"""``BevImgFlip``: mirror camera views left-right and update their projection post-matrix."""

from __future__ import annotations

import numpy as np

from hat.data.transforms.bev_views import apply_post_matrices, check_views
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevImgFlip"]


@OBJECT_REGISTRY.register
class BevImgFlip:
    """Mirror each view left-right with probability ``prob`` (drawn per view, as HAT).

    A flipped view of width W gains ``x' = W - 1 - x`` in ``img_aug``. Only the image is
    mirrored: the 3D scene (boxes, map) is unchanged, and projecting it through the updated
    ``img_aug`` lands on the mirrored content.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"BevImgFlip: prob must be in [0, 1], got {prob}")
        self.prob = float(prob)

    def __call__(self, sample: dict) -> dict:
        imgs = check_views(sample, "BevImgFlip")
        out_imgs, mats = [], []
        for img in imgs:
            if self.prob > 0 and np.random.random() < self.prob:
                out_imgs.append(np.ascontiguousarray(img[:, ::-1]))
                w = img.shape[1]
                mats.append(np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
            else:
                out_imgs.append(img)
                mats.append(np.eye(3))
        return apply_post_matrices(sample, out_imgs, mats)

    def __repr__(self) -> str:
        return f"BevImgFlip(prob={self.prob})"
