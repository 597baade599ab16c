"""``BevRotate``: rotate the BEV scene (boxes and map target) about the ego's z axis."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hat.data.transforms.bev_space import apply_bev_map, check_bev_size
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevRotate"]


@OBJECT_REGISTRY.register
class BevRotate:
    """Rotate the scene by an angle ``~ U(rot)`` radians (counter-clockwise from ego x to ego
    y), one draw per sample, consistently for ``gt_boxes``, ``gt_seg_mask`` and ``bev_aug``
    (see :mod:`hat.data.transforms.bev_space`).

    ``bev_size`` is the model's BEV grid ``(x_range_m, y_range_m, resolution_m)`` as in the seed
    config; the rotation itself is in metres about the ego origin, the same for any grid.
    """

    def __init__(self, bev_size: Sequence[float], rot: Sequence[float] = (-0.3925, 0.3925)) -> None:
        self.bev_size = check_bev_size(bev_size, "BevRotate")
        lo, hi = (float(v) for v in rot)
        if lo > hi:
            raise ValueError(f"BevRotate: rot range {rot!r} has lo > hi")
        self.rot = (lo, hi)

    def __call__(self, sample: dict) -> dict:
        a = float(np.random.uniform(*self.rot))
        c, s = math.cos(a), math.sin(a)
        return apply_bev_map(sample, np.array([[c, -s], [s, c]]))

    def __repr__(self) -> str:
        return f"BevRotate(bev_size={self.bev_size}, rot={self.rot})"
