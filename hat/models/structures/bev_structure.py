"""``BevStructure``: the multi-view camera BEV model (image backbone + neck, IPM view transform,
BEV encoder, one decoder per task), HAT's ``BevStructure``.

Data flow for a batch of ``B`` samples of ``V`` views (see ``docs/design.md``, "Models")::

    img (B*V, 3, H, W) -> backbone -> neck -> feats[bev_feat_index] (B*V, C, Hf, Wf)
    points (B*V, Hb, Wb, 2)  ─┐
                              └> view_transformer -> BEV map (B, C, Hb*up, Wb*up)
    -> bev_encoder -> [BEV features, finest first] -> each decoder -> head_out

BEV augmentation (training) moves the sampling points, not the features: ``bev_transforms``
(``BevRotate``, ``BevFlip``) turn every sample's targets (``gt_boxes``, ``gt_seg_mask``) and
accumulate the ground-plane map in ``bev_aug`` (original ego -> augmented ego); the points of
BEV cell ``c`` are then those of ``inv(bev_aug) @ c``, so the cell sees the image content of the
original point that the augmentation moved onto it. The augmented BEV features are exactly the
features of the augmented scene (no resampling of a feature map, no interpolation loss), and they
stay aligned with the augmented targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hat.models.structures.bev_points import batch_ipm_points
from hat.nn import QuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = ["BevStructure", "BevPostProcess", "apply_bev_transforms"]

#: The batch keys of the camera geometry (``collate_nuscenes``).
CAMERA_KEYS = ("intrinsics", "sensor2ego")


def _numpy_boxes(boxes: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = boxes.detach().cpu().numpy() if isinstance(boxes, torch.Tensor) else np.asarray(boxes)
    arr = arr.astype(np.float64)
    if arr.size == 0:
        return arr.reshape(0, 9)
    return arr


def apply_bev_transforms(data: Mapping[str, Any], transforms: Sequence[Callable]) -> dict:
    """``data`` with ``transforms`` applied sample by sample to ``gt_boxes`` (list of ``(N, 9)``),
    ``gt_seg_mask`` (``(B, rows, cols)``) and ``bev_aug`` (``(B, 4, 4)``, identity when absent).

    The transforms (``BevRotate``, ``BevFlip``) work on one sample dict of numpy arrays; the
    results come back as tensors of the inputs' dtypes and devices (``bev_aug``: float64 on the
    image's device). The other keys are passed through unchanged.
    """
    if "img" not in data:
        raise KeyError("apply_bev_transforms: the batch has no 'img'")
    device = data["img"].device
    boxes = data.get("gt_boxes")
    masks = data.get("gt_seg_mask")
    bev_aug = data.get("bev_aug")
    sizes = [len(x) for x in (boxes, masks, bev_aug) if x is not None]
    if not sizes:
        raise KeyError(
            "apply_bev_transforms: the batch has none of 'gt_boxes', 'gt_seg_mask', 'bev_aug'"
        )
    batch = sizes[0]
    if any(n != batch for n in sizes):
        raise ValueError(
            "apply_bev_transforms: gt_boxes, gt_seg_mask and bev_aug disagree on the batch size "
            f"({sizes})"
        )
    new_boxes, new_masks, new_aug = [], [], []
    for b in range(batch):
        sample: dict[str, Any] = {
            "bev_aug": np.eye(4)
            if bev_aug is None
            else bev_aug[b].detach().cpu().numpy().astype(np.float64)
        }
        if boxes is not None:
            sample["gt_boxes"] = _numpy_boxes(boxes[b])
        if masks is not None:
            sample["gt_seg_mask"] = masks[b].detach().cpu().numpy()
        for t in transforms:
            sample = t(sample)
        new_aug.append(torch.as_tensor(sample["bev_aug"], dtype=torch.float64))
        if boxes is not None:
            ref = boxes[b]
            out = torch.as_tensor(sample["gt_boxes"])
            if isinstance(ref, torch.Tensor):
                out = out.to(dtype=ref.dtype, device=ref.device).reshape(ref.shape)
            new_boxes.append(out)
        if masks is not None:
            new_masks.append(torch.as_tensor(np.ascontiguousarray(sample["gt_seg_mask"])))
    out = dict(data)
    out["bev_aug"] = torch.stack(new_aug).to(device)
    if boxes is not None:
        out["gt_boxes"] = new_boxes
    if masks is not None:
        out["gt_seg_mask"] = torch.stack(new_masks).to(dtype=masks.dtype, device=masks.device)
    return out


@OBJECT_REGISTRY.register
class BevStructure(nn.Module):
    """Multi-view BEV model with several task decoders, following the model contract of
    ``docs/design.md`` (see the module docstring for the data flow and the augmentation).

    Args:
        backbone: ``img (B*V, 3, H, W) -> features`` (e.g. ``efficientnet`` B0, no top).
        neck: ``features -> features`` (e.g. ``FastSCNNNeck``); ``feats[bev_feat_index]`` is the
            image feature that the view transformer samples.
        view_transformer: ``(feat (B*V, C, Hf, Wf), points (B*V, Hb, Wb, 2)) -> (B, C, Hb', Wb')``
            (``WrappingTransformer``); its ``bev_size`` and ``num_views`` are the model's.
        bev_encoder: ``BEV map -> [BEV features]`` finest first (``BevEncoder``).
        bev_decoders: task decoders (``BevSegDecoder``, ``BevDetDecoder``), each with a unique
            ``name``, ``forward(feats) -> head_out``, ``loss(head_out, data) -> {name: loss}`` and
            ``post_process(head_out, data) -> predictions``.
        bev_transforms: BEV-space augmentations applied per sample in training (``BevRotate``,
            ``BevFlip``); ``None``: none.
        bev_feat_index: which neck output the view transformer samples (``-1``: the last).

    ``forward(data)``, ``data`` as ``collate_nuscenes`` makes it:

    - training: ``bev_transforms`` on ``gt_boxes`` / ``gt_seg_mask`` / ``bev_aug``, points from
      ``intrinsics``, ``sensor2ego``, ``img_aug`` (identity when absent) and ``bev_aug`` with
      :func:`hat.models.view_transformers.ipm_points`; returns ``{"losses": {every decoder's
      losses}, <decoder name>: head_out, ...}``.
    - eval: ``points = data["points"]`` (``(B*V, Hb, Wb, 2)``, the deploy input) when given, else
      computed as in training (without augmentation; ``bev_aug`` used when present); returns
      ``{<decoder name>: head_out}`` (raw head tensors: decoding and NMS are post-processing,
      :meth:`post_process`).

    The image enters the quantized model through a ``QuantStub`` with the fixed scale ``1/128``
    of the normalised YUV input; the points stay a float model input that the view
    transformer's sampling op quantizes to int16 itself (``grid_quant_scale``).
    """

    def __init__(
        self,
        backbone: nn.Module,
        neck: nn.Module,
        view_transformer: nn.Module,
        bev_encoder: nn.Module,
        bev_decoders: Sequence[nn.Module],
        bev_transforms: Sequence[Callable] | None = None,
        bev_feat_index: int = -1,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.view_transformer = view_transformer
        self.bev_encoder = bev_encoder
        decoders = list(bev_decoders)
        if not decoders:
            raise ValueError("BevStructure: bev_decoders is empty")
        names = [getattr(d, "name", None) for d in decoders]
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            raise ValueError(f"BevStructure: every decoder needs a unique name, got {names}")
        self.bev_decoders = nn.ModuleList(decoders)
        self.bev_transforms = list(bev_transforms or [])
        for t in self.bev_transforms:
            if not callable(t):
                raise TypeError(f"BevStructure: bev_transforms entry {t!r} is not callable")
        self.bev_feat_index = int(bev_feat_index)
        self.num_views = int(getattr(view_transformer, "num_views", 6))
        bev_size = getattr(view_transformer, "bev_size", None)
        if bev_size is None or len(tuple(bev_size)) != 3:
            raise ValueError(
                "BevStructure: the view_transformer must have bev_size (x_range_m, y_range_m, "
                f"resolution_m), got {bev_size!r}"
            )
        self.bev_size = tuple(float(v) for v in bev_size)
        self.quant = QuantStub(scale=1.0 / 128)

    # -- geometry --------------------------------------------------------------------------------
    @property
    def bev_hw(self) -> tuple[int, int]:
        """The BEV grid ``(Hb, Wb)`` (rows = ego y, cols = ego x)."""
        x_range, y_range, res = self.bev_size
        return round(2 * y_range / res), round(2 * x_range / res)

    def _batch_size(self, img: torch.Tensor) -> int:
        if img.dim() != 4 or img.shape[0] % self.num_views:
            raise ValueError(
                f"BevStructure: data['img'] must be (B*{self.num_views}, C, H, W) (views of a "
                f"sample consecutive), got {tuple(img.shape)}"
            )
        return img.shape[0] // self.num_views

    @staticmethod
    def feature_stride(img_hw: Sequence[int], feat_hw: Sequence[int]) -> int:
        """The stride ``s`` of the sampled image feature: ``feat = ceil(img / s)`` on both axes
        (stride-2 convolutions with ``k // 2`` padding)."""
        (h, w), (hf, wf) = (int(v) for v in img_hw), (int(v) for v in feat_hw)
        stride = max(round(h / hf), 1)
        if math.ceil(h / stride) != hf or math.ceil(w / stride) != wf:
            raise ValueError(
                f"BevStructure: image {h}x{w} and feature {hf}x{wf}: no stride s gives "
                "feature = ceil(image / s) on both axes"
            )
        return stride

    def compute_points(
        self, data: Mapping[str, Any], img_hw: Sequence[int], feat_hw: Sequence[int]
    ) -> torch.Tensor:
        """``(B*V, Hb, Wb, 2)`` sampling points of the BEV cells in the feature map, from the
        batch's ``intrinsics``, ``sensor2ego``, ``img_aug`` and ``bev_aug`` (identities when
        absent)."""
        missing = [k for k in CAMERA_KEYS if k not in data]
        if missing:
            raise KeyError(
                f"BevStructure needs data{missing} (B, V, ...) to compute the sampling "
                "points (or data['points'] (B*V, Hb, Wb, 2) in eval mode)"
            )
        stride = self.feature_stride(img_hw, feat_hw)
        return batch_ipm_points(data, self.bev_size, feat_hw, stride, self.num_views)

    # -- forward ---------------------------------------------------------------------------------
    def _image_feature(self, img: torch.Tensor) -> torch.Tensor:
        feats = self.neck(self.backbone(self.quant(img)))
        try:
            return feats[self.bev_feat_index]
        except IndexError:
            raise ValueError(
                f"BevStructure: bev_feat_index {self.bev_feat_index} out of range for the "
                f"neck's {len(feats)} outputs"
            ) from None

    def forward(self, data: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(data, Mapping) or "img" not in data:
            raise KeyError(
                f"BevStructure expects a batch dict with 'img' (B*{self.num_views}, 3, H, W)"
            )
        img = data["img"]
        batch = self._batch_size(img)
        if self.training and self.bev_transforms:
            data = apply_bev_transforms(data, self.bev_transforms)
        feat = self._image_feature(img)
        points = data.get("points") if not self.training else None
        if points is None:
            points = self.compute_points(data, img.shape[-2:], feat.shape[-2:])
        expected = (batch * self.num_views, *self.bev_hw, 2)
        if tuple(points.shape) != expected:
            raise ValueError(
                f"BevStructure: data['points'] must be {expected} (B*V, Hb, Wb, 2), got "
                f"{tuple(points.shape)}"
            )
        if points.dtype != torch.float32 or points.device != feat.device:
            # (only when needed: a traced export input must reach the view transform as is)
            points = points.to(device=feat.device, dtype=torch.float32)
        bev = self.view_transformer(feat, points)
        bev_feats = self.bev_encoder(bev)
        outs = {d.name: d(bev_feats) for d in self.bev_decoders}
        if not self.training:
            return outs
        losses: dict[str, torch.Tensor] = {}
        for d in self.bev_decoders:
            for name, value in d.loss(outs[d.name], data).items():
                if name in losses:
                    raise ValueError(f"BevStructure: two decoders return the loss {name!r}")
                losses[name] = value
        return {"losses": losses, **outs}

    def post_process(
        self, outs: Mapping[str, Any], data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``{<decoder name>: decoder.post_process(outs[name], data)}`` (e.g. ``bev_det``: one
        dict of ego-frame boxes, scores and labels per sample; ``bev_seg``: the map class ids)."""
        return _post_process(self.bev_decoders, outs, data)

    # -- quantization ----------------------------------------------------------------------------
    def fuse_model(self) -> None:
        """Delegates to the parts (the quantizer does the actual Conv-BN fusion)."""
        for m in (self.backbone, self.neck, self.view_transformer, self.bev_encoder):
            if hasattr(m, "fuse_model"):
                m.fuse_model()
        for d in self.bev_decoders:
            if hasattr(d, "fuse_model"):
                d.fuse_model()

    def set_qconfig(self) -> None:
        """HAT's default qconfig on the whole model, then the parts' own overrides (the
        decoders keep their targets, losses and box decoders float)."""
        from hat.quantization import default_set_qconfig

        default_set_qconfig(self)
        for m in (self.backbone, self.neck, self.view_transformer, self.bev_encoder):
            if hasattr(m, "set_qconfig"):
                m.set_qconfig()
        for d in self.bev_decoders:
            for attr in ("target", "loss", "loss_cls", "loss_reg", "decoder"):
                part = getattr(d, attr, None)
                if isinstance(part, nn.Module):
                    part.qconfig = None
            if hasattr(d, "set_qconfig"):
                d.set_qconfig()


def _post_process(
    decoders: Sequence[nn.Module], outs: Mapping[str, Any], data: Mapping[str, Any] | None
) -> dict[str, Any]:
    missing = [d.name for d in decoders if d.name not in outs]
    if missing:
        raise KeyError(f"post_process: the model outputs have no {missing} (got {sorted(outs)})")
    return {d.name: d.post_process(outs[d.name], data) for d in decoders}


@OBJECT_REGISTRY.register
class BevPostProcess(nn.Module):
    """The post-processing of :class:`BevStructure` outside the model, for configs' metric
    update functions: ``BevPostProcess(bev_decoders)(outs, data)`` equals
    ``model.post_process(outs, data)`` for a model built with the same ``bev_decoders`` (the
    decoding does not depend on the decoders' weights)."""

    def __init__(self, bev_decoders: Sequence[nn.Module]) -> None:
        super().__init__()
        self.bev_decoders = nn.ModuleList(list(bev_decoders))

    @torch.no_grad()
    def forward(self, outs: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> dict:
        from hat.quantization.output_order import output_tensors

        tensors = output_tensors(outs)
        if tensors:  # follow the outputs' device (CUDA evaluation)
            self.to(tensors[0].device)
        return _post_process(self.bev_decoders, outs, data)
