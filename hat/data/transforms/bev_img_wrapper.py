"""``BevImgTransformWrapper``: apply single-image transforms to every camera view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hat.data.transforms.compose import Compose
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevImgTransformWrapper"]


@OBJECT_REGISTRY.register
class BevImgTransformWrapper:
    """Run ``transforms`` (e.g. ``PILToTensor``, ``BgrToYuv444``, ``Normalize``) on each view.

    Each view is passed as its own sample ``{"img": view}``; the results replace the views of
    ``sample["img"]`` (a list again, one entry per camera; ``collate_nuscenes`` stacks them).
    The transforms must not change the geometry: the projection matrices are left alone.
    """

    def __init__(self, transforms: Sequence[Any]) -> None:
        self.transforms = Compose(transforms)

    def __call__(self, sample: dict) -> dict:
        imgs = sample.get("img")
        if not isinstance(imgs, (list, tuple)):
            raise TypeError(
                "BevImgTransformWrapper: sample['img'] must be a list of views, got "
                f"{type(imgs).__name__}"
            )
        out = dict(sample)
        out["img"] = [self.transforms({"img": img})["img"] for img in imgs]
        return out

    def __repr__(self) -> str:
        return f"BevImgTransformWrapper({self.transforms!r})"
