"""``BevFlip``: mirror the BEV scene (boxes and map target) across the ego axes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hat.data.transforms.bev_space import apply_bev_map, check_bev_size
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevFlip"]


@OBJECT_REGISTRY.register
class BevFlip:
    """With probability ``prob_x`` mirror ego x (``x -> -x``, front <-> back), then with
    probability ``prob_y`` mirror ego y (``y -> -y``, left <-> right), as BEVDet's BEV
    augmentation names them; one draw per sample, applied consistently to ``gt_boxes``,
    ``gt_seg_mask`` and ``bev_aug`` (see :mod:`hat.data.transforms.bev_space`).

    ``bev_size``: the model's BEV grid as in the seed config (the mirrors are about the ego
    origin, the same for any grid).
    """

    def __init__(self, prob_x: float, prob_y: float, bev_size: Sequence[float]) -> None:
        for name, p in (("prob_x", prob_x), ("prob_y", prob_y)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"BevFlip: {name} must be in [0, 1], got {p}")
        self.prob_x, self.prob_y = float(prob_x), float(prob_y)
        self.bev_size = check_bev_size(bev_size, "BevFlip")

    def __call__(self, sample: dict) -> dict:
        flip_x = self.prob_x > 0 and np.random.random() < self.prob_x
        flip_y = self.prob_y > 0 and np.random.random() < self.prob_y
        if not (flip_x or flip_y):
            return apply_bev_map(sample, np.eye(2))
        return apply_bev_map(sample, np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0]))

    def __repr__(self) -> str:
        return f"BevFlip(prob_x={self.prob_x}, prob_y={self.prob_y}, bev_size={self.bev_size})"
