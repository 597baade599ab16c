"""``BevImgResize``: resize every camera view and update its projection post-matrix."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from hat.data.transforms.bev_views import (
    apply_post_matrices,
    check_views,
    parse_sizes,
    per_view_sizes,
)
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevImgResize", "resize_matrix"]

_INTERP = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def resize_matrix(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """The pixel map of a resize ``src_hw -> dst_hw`` with pixel centres at integers.

    ``x' = sx (x + 0.5) - 0.5`` with ``sx = w' / w`` (and likewise y): the sampling of
    ``cv2.resize``, whose pixel centres line up at half-pixel offsets.
    """
    sy, sx = dst_hw[0] / src_hw[0], dst_hw[1] / src_hw[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


@OBJECT_REGISTRY.register
class BevImgResize:
    """Resize each view to ``size=(h, w)`` (or one size per view), or by a random factor
    ``s ~ U(scales)`` drawn per view (new size ``(int(H s), int(W s))``, as HAT).

    Exactly one of ``size`` / ``scales``. ``interpolation``: ``"bilinear"`` or ``"nearest"``.
    ``img_aug`` is updated with :func:`resize_matrix`.
    """

    def __init__(
        self,
        size: Sequence[int] | Sequence[Sequence[int]] | None = None,
        scales: Sequence[float] | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        if (size is None) == (scales is None):
            raise ValueError("BevImgResize: give exactly one of size=(h, w) or scales=(lo, hi)")
        self.sizes = None if size is None else parse_sizes(size, "BevImgResize")
        self.scales = None
        if scales is not None:
            lo, hi = (float(v) for v in scales)
            if not 0 < lo <= hi:
                raise ValueError(f"BevImgResize: scales must be 0 < lo <= hi, got {scales!r}")
            self.scales = (lo, hi)
        if interpolation not in _INTERP:
            raise ValueError(
                f"BevImgResize: interpolation must be one of {sorted(_INTERP)}, got "
                f"{interpolation!r}"
            )
        self.interpolation = interpolation

    def __call__(self, sample: dict) -> dict:
        imgs = check_views(sample, "BevImgResize")
        if self.sizes is not None:
            sizes = per_view_sizes(self.sizes, len(imgs), "BevImgResize")
        else:
            sizes = []
            for img in imgs:
                s = np.random.uniform(*self.scales)
                sizes.append((int(img.shape[0] * s), int(img.shape[1] * s)))
        out_imgs, mats = [], []
        for img, (h, w) in zip(imgs, sizes):
            if h <= 0 or w <= 0:
                raise ValueError(f"BevImgResize: view of shape {img.shape} resized to {(h, w)}")
            out_imgs.append(cv2.resize(img, (w, h), interpolation=_INTERP[self.interpolation]))
            mats.append(resize_matrix(img.shape[:2], (h, w)))
        return apply_post_matrices(sample, out_imgs, mats)

    def __repr__(self) -> str:
        what = f"size={self.sizes}" if self.sizes is not None else f"scales={self.scales}"
        return f"BevImgResize({what}, interpolation={self.interpolation!r})"
