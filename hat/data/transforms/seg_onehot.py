"""``SegOneHot``: a label map -> one-hot channels; ignored pixels get all zeros."""

from __future__ import annotations

import torch

from hat.data.transforms.layout import is_batched
from hat.registry import OBJECT_REGISTRY

__all__ = ["SegOneHot", "one_hot"]


def one_hot(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(B, H, W)`` integer ids -> ``(B, C, H, W)`` float32; ids outside ``[0, C)`` -> zeros."""
    classes = torch.arange(num_classes, device=label.device).view(1, num_classes, 1, 1)
    return (label.long().unsqueeze(1) == classes).to(torch.float32)


@OBJECT_REGISTRY.register
class SegOneHot:
    """Turn ``gt_seg`` (train ids, 255 / negative = ignore) into one-hot float32 channels.

    Batch: ``(B, 1, H, W)`` or ``(B, H, W)`` -> ``(B, C, H, W)``; one sample: ``(1, H, W)`` or
    ``(H, W)`` -> ``(C, H, W)``. An ignored pixel is all zeros (HAT's convention, kept by
    ``SegRandomAffine(label_fill_value=0)``). A float label that already has C channels is
    returned unchanged.
    """

    def __init__(self, num_classes: int, key: str = "gt_seg") -> None:
        if int(num_classes) <= 0:
            raise ValueError(f"SegOneHot: num_classes must be > 0, got {num_classes}")
        self.num_classes = int(num_classes)
        self.key = key

    def _batched(self, sample: dict, label: torch.Tensor) -> bool:
        if "img" in sample and isinstance(sample["img"], torch.Tensor):
            return is_batched(sample["img"])
        return label.dim() == 4 or (label.dim() == 3 and label.shape[0] != 1)

    def __call__(self, sample: dict) -> dict:
        label = sample[self.key]
        if not isinstance(label, torch.Tensor):
            label = torch.as_tensor(label)
        batched = self._batched(sample, label)
        if (
            label.is_floating_point()
            and label.dim() >= 3
            and (label.shape[-3] == self.num_classes and label.dim() == (4 if batched else 3))
        ):
            return sample
        x = label if batched else label[None]
        if x.dim() == 4:
            if x.shape[1] != 1:
                raise ValueError(
                    f"SegOneHot: expected a (B, 1, H, W) label map, got {tuple(label.shape)}"
                )
            x = x[:, 0]
        if x.dim() != 3:
            raise ValueError(f"SegOneHot: unsupported label shape {tuple(label.shape)}")
        out = one_hot(x, self.num_classes)
        result = dict(sample)
        result[self.key] = out if batched else out[0]
        return result

    def __repr__(self) -> str:
        return f"SegOneHot(num_classes={self.num_classes})"
