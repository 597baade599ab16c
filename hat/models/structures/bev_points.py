"""``BevIpmPoints``: a batch transform adding the view transformer's sampling points to a batch.

The deployed BEV model takes ``points (B*V, Hb, Wb, 2)`` as an input beside the images (they
depend only on the camera calibration and the image preprocessing, so on a vehicle they are
computed once). Evaluation batch processors add them with this transform, so the PyTorch models
(float, QAT, integer) and the exported ONNX model read the same points from the batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from hat.registry import OBJECT_REGISTRY

__all__ = ["BevIpmPoints", "batch_ipm_points"]


def batch_ipm_points(
    data: Mapping[str, Any],
    bev_size: Sequence[float],
    feat_hw: Sequence[int],
    feat_stride: int,
    num_views: int | None = None,
) -> torch.Tensor:
    """``(B*V, Hb, Wb, 2)`` float32 points of a ``collate_nuscenes`` batch: ``ipm_points`` of its
    ``intrinsics``, ``sensor2ego``, ``img_aug`` and ``bev_aug`` (identities when absent) for a
    ``feat_hw`` feature map of stride ``feat_stride``, views of a sample consecutive."""
    from hat.models.view_transformers import ipm_points

    missing = [k for k in ("intrinsics", "sensor2ego") if k not in data]
    if missing:
        raise KeyError(f"BEV sampling points need data{missing} (B, V, ...) camera matrices")
    intrinsics = torch.as_tensor(data["intrinsics"])
    if intrinsics.dim() != 4 or tuple(intrinsics.shape[2:]) != (3, 3):
        raise ValueError(f"data['intrinsics'] must be (B, V, 3, 3), got {tuple(intrinsics.shape)}")
    if num_views is not None and intrinsics.shape[1] != num_views:
        raise ValueError(
            f"data['intrinsics'] has {intrinsics.shape[1]} views, the model {num_views}"
        )
    img_aug = data.get("img_aug")
    bev_aug = data.get("bev_aug")
    points = ipm_points(
        intrinsics,
        torch.as_tensor(data["sensor2ego"]),
        None if img_aug is None else torch.as_tensor(img_aug),
        None if bev_aug is None else torch.as_tensor(bev_aug),
        bev_size,
        tuple(int(s) for s in feat_hw),
        int(feat_stride),
    )
    return points.flatten(0, 1)


@OBJECT_REGISTRY.register
class BevIpmPoints:
    """Batch transform: ``batch["points"] = (B*V, Hb, Wb, 2)`` for ``BevStructure``.

    Args:
        bev_size: the model's BEV grid ``(x_range_m, y_range_m, res_m)``.
        feat_stride: the stride of the image feature the view transformer samples (8 for
            EfficientNet-B0 + ``FastSCNNNeck(indexes=[-3, -1])``); its size is
            ``ceil(H / stride) x ceil(W / stride)`` of ``batch["img"]``.

    Points are computed on the device of ``batch["img"]``.
    """

    def __init__(self, bev_size: Sequence[float], feat_stride: int = 8) -> None:
        self.bev_size = tuple(float(v) for v in bev_size)
        if len(self.bev_size) != 3 or min(self.bev_size) <= 0:
            raise ValueError(f"BevIpmPoints: bev_size must be 3 numbers > 0, got {bev_size!r}")
        if int(feat_stride) != feat_stride or feat_stride < 1:
            raise ValueError(
                f"BevIpmPoints: feat_stride must be an integer >= 1, got {feat_stride}"
            )
        self.feat_stride = int(feat_stride)

    def __call__(self, batch: dict) -> dict:
        if "img" not in batch:
            raise KeyError("BevIpmPoints: the batch has no 'img' (B*V, 3, H, W)")
        h, w = batch["img"].shape[-2:]
        feat_hw = (math.ceil(h / self.feat_stride), math.ceil(w / self.feat_stride))
        out = dict(batch)
        out["points"] = batch_ipm_points(batch, self.bev_size, feat_hw, self.feat_stride).to(
            batch["img"].device
        )
        return out

    def __repr__(self) -> str:
        return f"BevIpmPoints(bev_size={self.bev_size}, feat_stride={self.feat_stride})"
