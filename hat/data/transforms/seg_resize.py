"""``SegResize``: resize the image (bilinear) and the segmentation label (nearest) together."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hat.data.transforms.functional import InterpolationMode, interpolation_mode
from hat.data.transforms.layout import img_to_bchw, is_batched, label_to_bchw
from hat.registry import OBJECT_REGISTRY

__all__ = ["SegResize", "resize_label"]


def _out_size(size: tuple[int, ...], h: int, w: int) -> tuple[int, int]:
    if len(size) == 2:
        return size[0], size[1]
    short = size[0]  # torchvision: match the smaller edge, keep the aspect ratio
    if h <= w:
        return short, max(1, int(short * w / h))
    return max(1, int(short * h / w)), short


def resize_label(label: torch.Tensor, size: Sequence[int], mode: str = "nearest") -> torch.Tensor:
    """Resize a ``(B, C, H, W)`` label to ``size``.

    Integer labels always use nearest neighbour (``nearest-exact``: pixel centres aligned with
    the image's ``align_corners=False`` resampling) and keep their dtype. Float labels (one-hot
    or soft) use ``mode``: ``"nearest"`` keeps them hard, ``"bilinear"`` makes them soft.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(label.shape[-2:]) == size:
        return label
    if not label.is_floating_point() or mode == "nearest":
        x = label if label.is_floating_point() else label.float()
        out = F.interpolate(x, size=size, mode="nearest-exact")
        return out if label.is_floating_point() else out.round().to(label.dtype)
    return F.interpolate(label, size=size, mode=mode, align_corners=False)


def _numpy_to_bchw(
    img: np.ndarray, as_float: bool = True
) -> tuple[torch.Tensor, Callable[[torch.Tensor], np.ndarray]]:
    """An ``(H, W[, C])`` array as a ``(1, C, H, W)`` tensor, and the way back (any size)."""
    arr = img if img.ndim == 3 else img[..., None]
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    t = t.float() if as_float else t

    def restore(out: torch.Tensor) -> np.ndarray:
        if img.dtype.kind in "iu":
            info = np.iinfo(img.dtype)
            out = out.round().clamp(info.min, info.max)
        res = out[0].permute(1, 2, 0).numpy().astype(img.dtype)
        return np.ascontiguousarray(res if img.ndim == 3 else res[..., 0])

    return t, restore


@OBJECT_REGISTRY.register
class SegResize:
    """Resize ``"img"`` and ``"gt_seg"`` of a sample or a batch to ``size``.

    Args:
        size: ``(h, w)``, or an int: the smaller edge (aspect ratio kept), as torchvision.
        interpolation: for the image (default bilinear, antialiased when shrinking).
        label_interpolation: for float labels (one-hot): ``"nearest"`` (default, stays one-hot)
            or ``"bilinear"`` (soft, as HAT's torchvision-based version). Integer label maps are
            always resized with nearest neighbour.
        antialias: low-pass the image when shrinking (torchvision's default).

    Works on numpy samples (``(H, W, 3)`` image, ``(H, W)`` label), tensor samples and batches.
    The image keeps its dtype (uint8 is rounded); labels keep theirs.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        interpolation: str | InterpolationMode = InterpolationMode.BILINEAR,
        label_interpolation: str | InterpolationMode = InterpolationMode.NEAREST,
        antialias: bool = True,
    ) -> None:
        sz = (int(size),) if isinstance(size, int) else tuple(int(s) for s in size)
        if len(sz) not in (1, 2) or min(sz) <= 0:
            raise ValueError(f"SegResize: size must be an int or (h, w) > 0, got {size!r}")
        self.size = sz
        self.interpolation = interpolation_mode(interpolation)
        self.label_interpolation = interpolation_mode(label_interpolation)
        self.antialias = antialias

    @property
    def resamples_img(self) -> bool:
        """True when resized image values may fall between integers (uint8 is rounded)."""
        return self.interpolation != "nearest"

    def __call__(self, sample: dict) -> dict:
        if isinstance(sample["img"], np.ndarray):  # one (H, W, C) numpy image
            img, restore = _numpy_to_bchw(sample["img"])
        else:
            img, restore = img_to_bchw(sample["img"])
        h, w = img.shape[-2:]
        size = _out_size(self.size, h, w)
        if (h, w) == size:
            return sample
        out = dict(sample)
        if self.interpolation == "nearest":
            resized = F.interpolate(img, size=size, mode="nearest-exact")
        else:
            anti = self.antialias and (size[0] < h or size[1] < w)
            resized = F.interpolate(
                img, size=size, mode=self.interpolation, align_corners=False, antialias=anti
            )
        out["img"] = restore(resized)
        if "gt_seg" in sample:
            if isinstance(sample["gt_seg"], np.ndarray):
                label, restore_label = _numpy_to_bchw(sample["gt_seg"], as_float=False)
            else:
                label, restore_label = label_to_bchw(sample["gt_seg"], is_batched(sample["img"]))
            out["gt_seg"] = restore_label(
                resize_label(label.to(img.device), size, self.label_interpolation)
            )
        return out

    def __repr__(self) -> str:
        return (
            f"SegResize(size={self.size}, interpolation={self.interpolation!r}, "
            f"label_interpolation={self.label_interpolation!r})"
        )
