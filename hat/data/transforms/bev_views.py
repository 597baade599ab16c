"""Shared helpers of the multi-view image transforms (``BevImg*``).

A nuScenes sample carries ``"img"``: a list of ``(H, W, 3)`` uint8 RGB arrays, one per camera, and
``"img_aug"``: ``(V, 3, 3)`` float64 post-matrices. A 3D point ``p`` in the ego frame lands at the
homogeneous pixel ``img_aug[v] @ K[v] @ inv(sensor2ego[v])[:3] @ [p, 1]`` of view ``v``; pixel
centres are at integer coordinates (OpenCV's and nuScenes' convention). Every geometric transform
moves the image content by a 3x3 map ``A`` (original pixel -> new pixel) and left-multiplies
``img_aug`` by it, so that projection keeps landing on the same content. A sample without
``img_aug`` starts from identities.

Random parameters are drawn per view, as HAT's multi-view transforms and BEVDet's per-camera
``sample_augmentation`` do (each view gets its own scale, crop offset, flip and angle); draws come
from numpy's global generator, which the data loader seeds per sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["apply_post_matrices", "check_views", "parse_sizes", "per_view_sizes"]


def check_views(sample: dict, who: str) -> list[np.ndarray]:
    """``sample["img"]`` as a list of ``(H, W, C)`` arrays; a clear error for anything else."""
    imgs = sample.get("img")
    if not isinstance(imgs, (list, tuple)) or not imgs:
        raise TypeError(
            f"{who}: sample['img'] must be a non-empty list of (H, W, 3) arrays (one per camera), "
            f"got {type(imgs).__name__}"
        )
    for i, img in enumerate(imgs):
        if not isinstance(img, np.ndarray) or img.ndim != 3:
            raise TypeError(
                f"{who}: sample['img'][{i}] must be an (H, W, C) numpy array (apply the geometric "
                f"transforms before BevImgTransformWrapper), got "
                f"{getattr(img, 'shape', type(img).__name__)}"
            )
    return list(imgs)


def apply_post_matrices(sample: dict, imgs: list[np.ndarray], mats: list[np.ndarray]) -> dict:
    """A new sample with ``imgs`` and ``img_aug[v] = mats[v] @ img_aug[v]``."""
    n = len(imgs)
    if "img_aug" in sample:
        post = np.asarray(sample["img_aug"], dtype=np.float64)
        if post.shape != (n, 3, 3):
            raise ValueError(
                f"sample['img_aug'] has shape {post.shape}, expected ({n}, 3, 3) for {n} views"
            )
    else:
        post = np.broadcast_to(np.eye(3), (n, 3, 3))
    out = dict(sample)
    out["img"] = imgs
    out["img_aug"] = np.stack([m @ p for m, p in zip(mats, post)])
    return out


def parse_sizes(size: Sequence[int] | Sequence[Sequence[int]], who: str) -> list[tuple[int, int]]:
    """``(h, w)`` for all views or a list of one ``(h, w)`` per view, checked."""
    sizes = [size] if isinstance(size[0], (int, np.integer)) else list(size)
    for s in sizes:
        if len(s) != 2 or any(int(v) != v or v <= 0 for v in s):
            raise ValueError(
                f"{who}: size must be (h, w) positive integers or a list of them, got {size!r}"
            )
    return [(int(h), int(w)) for h, w in sizes]


def per_view_sizes(sizes: list[tuple[int, int]], n: int, who: str) -> list[tuple[int, int]]:
    """The parsed ``sizes`` (one, or one per view) for ``n`` views."""
    if len(sizes) == 1:
        return sizes * n
    if len(sizes) != n:
        raise ValueError(f"{who}: got {len(sizes)} sizes for {n} views (give one or one per view)")
    return sizes
