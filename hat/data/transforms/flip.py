"""Random horizontal/vertical flips of a flow sample."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hat.data.transforms.layout import is_batched
from hat.registry import OBJECT_REGISTRY

__all__ = ["RandomFlip", "flip_sample"]


def _flip_img(x: Any, horizontal: bool) -> Any:
    if isinstance(x, (list, tuple)):
        return type(x)(_flip_img(i, horizontal) for i in x)
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x[:, ::-1] if horizontal else x[::-1])
    return x.flip(-1 if horizontal else -2)


def _flip_flow(flow: Any, horizontal: bool) -> Any:
    comp = 0 if horizontal else 1  # u changes sign under a horizontal flip, v under a vertical one
    if isinstance(flow, np.ndarray):
        out = np.array(flow[:, ::-1] if horizontal else flow[::-1])
        out[..., comp] *= -1
        return out
    out = flow.flip(-1 if horizontal else -2).clone()
    out[..., comp, :, :] *= -1
    return out


def flip_sample(sample: dict, horizontal: bool) -> dict:
    """Mirror images and labels of one sample (or of a whole batch).

    Both images are mirrored the same way; the flow field is mirrored and its u (horizontal)
    or v (vertical) component negated, since x' = W-1-x maps a motion +u to -u. A stereo
    ``gt_disp`` follows a vertical flip; a horizontal one would swap the cameras' roles, so it
    raises a ValueError.
    """
    if horizontal and "gt_disp" in sample:
        raise ValueError(
            "RandomFlip: a horizontal flip of a stereo sample ('gt_disp') would need the left "
            "and right images swapped and the right-view disparity; use px=0"
        )
    out = dict(sample)
    out["img"] = _flip_img(sample["img"], horizontal)
    if "gt_flow" in sample:
        out["gt_flow"] = _flip_flow(sample["gt_flow"], horizontal)
    for key in ("gt_seg", "gt_disp"):
        if key in sample:
            out[key] = _flip_img(sample[key], horizontal)
    return out


def _select(batch: dict, flipped: dict, mask: torch.Tensor) -> dict:
    out = dict(batch)
    for key in ("img", "gt_flow", "gt_seg", "gt_disp"):
        if key in batch:
            m = mask.to(batch[key].device).view(-1, *([1] * (batch[key].dim() - 1)))
            out[key] = torch.where(m, flipped[key], batch[key])
    return out


@OBJECT_REGISTRY.register
class RandomFlip:
    """Horizontal flip with probability ``px``, then vertical flip with probability ``py``.

    For a batch (``(B, C, H, W)`` tensors) every sample draws its own flips.
    """

    def __init__(self, px: float = 0.5, py: float = 0.0) -> None:
        for name, p in (("px", px), ("py", py)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"RandomFlip: {name} must be a probability in [0, 1], got {p}")
        self.px, self.py = float(px), float(py)

    def __call__(self, sample: dict) -> dict:
        for horizontal, p in ((True, self.px), (False, self.py)):
            if p <= 0.0:
                continue
            if is_batched(sample["img"]):
                mask = torch.rand(sample["img"].shape[0]) < p
                if mask.any():
                    sample = _select(sample, flip_sample(sample, horizontal), mask)
            elif torch.rand(()).item() < p:
                sample = flip_sample(sample, horizontal)
        return sample

    def __repr__(self) -> str:
        return f"RandomFlip(px={self.px}, py={self.py})"
