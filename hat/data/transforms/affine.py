"""Random affine transform applied identically to both images and to the labels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from hat.data.transforms.functional import InterpolationMode, interpolation_mode, warp_affine
from hat.data.transforms.layout import img_to_bchw, is_batched, label_to_bchw
from hat.registry import OBJECT_REGISTRY

__all__ = ["SegRandomAffine", "affine_matrix"]


def _range(
    value: float | Sequence[float] | None, name: str, center: float = 0.0
) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(
                f"SegRandomAffine: {name} must be >= 0 when a single number, got {value}"
            )
        return (center - float(value), center + float(value))
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"SegRandomAffine: {name} range {value!r} has min > max")
    return lo, hi


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()).item())


def affine_matrix(
    angle: float,
    translate: tuple[float, float],
    scale: float,
    shear: tuple[float, float],
    h: int,
    w: int,
) -> torch.Tensor:
    """The ``(2, 3)`` forward map ``p' = L (p - c) + c + t`` in pixel coordinates.

    ``c`` is the image centre, ``L = scale * R(angle) @ Shear``; a positive angle (degrees)
    turns the picture counter-clockwise as displayed (y axis pointing down).
    """
    a = math.radians(angle)
    rot = torch.tensor(
        [[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=torch.float64
    )
    shx, shy = (math.tan(math.radians(s)) for s in shear)
    sh = torch.tensor([[1.0, shx], [0.0, 1.0]], dtype=torch.float64) @ torch.tensor(
        [[1.0, 0.0], [shy, 1.0]], dtype=torch.float64
    )
    lin = scale * rot @ sh
    c = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=torch.float64)
    t = c + torch.tensor(translate, dtype=torch.float64) - lin @ c
    return torch.cat([lin, t[:, None]], dim=1)


def _invert(m: torch.Tensor) -> torch.Tensor:
    lin_inv = torch.linalg.inv(m[:, :2])
    return torch.cat([lin_inv, -(lin_inv @ m[:, 2:])], dim=1)


@OBJECT_REGISTRY.register
class SegRandomAffine:
    """Random rotation / translation / scale / shear, the same for both images and the labels.

    Each component is drawn only with its probability (``rotate_p``, ``translate_p``,
    ``scale_p``, ``shear_p``); translations are whole pixels, at most ``translate[0] * W`` and
    ``translate[1] * H``. When no component is drawn the sample is returned untouched.

    Labels:

    - ``gt_flow``: both images move by the same map ``p' = L p + t``, so a match ``p -> p + f``
      becomes ``p' -> p' + L f``: the field is resampled (``flow_interpolation``, default
      bilinear) and its vectors multiplied by ``L``. A translation leaves the values unchanged,
      a scale ``s`` multiplies them by ``s``.
    - ``gt_seg``: resampled with nearest neighbour.

    Pixels that come from outside the image get ``fill`` (images) and ``label_fill_value``
    (labels). Works on a numpy sample, a tensor sample or a batch (each sample its own draw).
    """

    def __init__(
        self,
        degrees: float | Sequence[float] = 0,
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear: float | Sequence[float] | None = None,
        interpolation: str | InterpolationMode = InterpolationMode.NEAREST,
        fill: float = 0.0,
        label_fill_value: float = 0.0,
        rotate_p: float = 1.0,
        translate_p: float = 1.0,
        scale_p: float = 1.0,
        shear_p: float = 1.0,
        flow_interpolation: str | InterpolationMode = InterpolationMode.BILINEAR,
    ) -> None:
        self.degrees = _range(degrees, "degrees")
        self.translate = None if translate is None else tuple(float(t) for t in translate)
        if self.translate is not None and not (
            len(self.translate) == 2 and all(0 <= t <= 1 for t in self.translate)
        ):
            raise ValueError(
                f"SegRandomAffine: translate must be (fx, fy) in [0, 1], got {translate!r}"
            )
        self.scale = None if scale is None else _range(scale, "scale")
        if self.scale is not None and self.scale[0] <= 0:
            raise ValueError(f"SegRandomAffine: scale must be > 0, got {scale!r}")
        if shear is None or isinstance(shear, (int, float)):
            self.shear = (_range(shear, "shear"), None)
        else:
            shear = tuple(shear)
            self.shear = (
                _range(shear[:2], "shear"),
                _range(shear[2:4], "shear") if len(shear) == 4 else None,
            )
        self.interpolation = interpolation_mode(interpolation)
        self.flow_interpolation = interpolation_mode(flow_interpolation)
        self.fill = float(fill)
        self.label_fill_value = float(label_fill_value)
        self.p = {"rotate": rotate_p, "translate": translate_p, "scale": scale_p, "shear": shear_p}

    @property
    def resamples_img(self) -> bool:
        """True when warped image values may fall between integers (a uint8 image is rounded)."""
        return self.interpolation != "nearest" or not self.fill.is_integer()

    def _draw(self, h: int, w: int) -> torch.Tensor | None:
        """A forward ``(2, 3)`` matrix, or None when no component was drawn."""
        angle, tx, ty, s, shx, shy = 0.0, 0.0, 0.0, 1.0, 0.0, 0.0
        drawn = False
        if (
            self.degrees is not None
            and self.degrees != (0.0, 0.0)
            and torch.rand(()).item() < self.p["rotate"]
        ):
            angle, drawn = _uniform(*self.degrees), True
        if self.translate is not None and torch.rand(()).item() < self.p["translate"]:
            tx = float(round(_uniform(-self.translate[0] * w, self.translate[0] * w)))
            ty = float(round(_uniform(-self.translate[1] * h, self.translate[1] * h)))
            drawn = True
        if (
            self.scale is not None
            and self.scale != (1.0, 1.0)
            and torch.rand(()).item() < self.p["scale"]
        ):
            s, drawn = _uniform(*self.scale), True
        if self.shear[0] is not None and torch.rand(()).item() < self.p["shear"]:
            shx, drawn = _uniform(*self.shear[0]), True
            if self.shear[1] is not None:
                shy = _uniform(*self.shear[1])
        if not drawn or (angle, tx, ty, s, shx, shy) == (0.0, 0.0, 0.0, 1.0, 0.0, 0.0):
            return None
        return affine_matrix(angle, (tx, ty), s, (shx, shy), h, w)

    def __call__(self, sample: dict) -> dict:
        img, restore_img = img_to_bchw(sample["img"])
        b, _, h, w = img.shape
        mats = [self._draw(h, w) for _ in range(b)]
        if all(m is None for m in mats):
            return sample
        eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
        fwd = torch.stack([eye if m is None else m for m in mats]).to(img.device)
        inv = torch.stack([_invert(m) for m in fwd])
        out = dict(sample)
        warped, _ = warp_affine(img, inv, self.interpolation, self.fill)
        out["img"] = restore_img(warped)
        batched = is_batched(sample["img"])
        if "gt_flow" in sample:
            flow, restore = label_to_bchw(sample["gt_flow"], batched)
            out["gt_flow"] = restore(self._warp_flow(flow.to(img.device), fwd, inv))
        if "gt_seg" in sample:
            seg, restore = label_to_bchw(sample["gt_seg"], batched)
            warped_seg, _ = warp_affine(seg.to(img.device), inv, "nearest", self.label_fill_value)
            out["gt_seg"] = restore(warped_seg)
        return out

    def _warp_flow(self, flow: torch.Tensor, fwd: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        dtype = flow.dtype if flow.is_floating_point() else torch.float32
        warped, inside = warp_affine(flow.to(dtype), inv, self.flow_interpolation, 0.0)
        lin = fwd[:, :, :2].to(dtype)
        new = torch.einsum("bij,bjhw->bihw", lin, warped)
        return torch.where(
            inside, new, torch.as_tensor(self.label_fill_value, dtype=dtype, device=new.device)
        )

    def __repr__(self) -> str:
        return (
            f"SegRandomAffine(degrees={self.degrees}, translate={self.translate}, "
            f"scale={self.scale}, "
            f"shear={self.shear}, interpolation={self.interpolation!r}, p={self.p})"
        )
