"""Random scaling of the second image only, with the flow corrected exactly."""

from __future__ import annotations

import torch

from hat.data.transforms.functional import InterpolationMode, interpolation_mode, warp_affine
from hat.data.transforms.layout import img_channel_groups, img_to_bchw, is_batched, label_to_bchw
from hat.registry import OBJECT_REGISTRY

__all__ = ["FlowRandomAffineScale"]


@OBJECT_REGISTRY.register
class FlowRandomAffineScale:
    """With probability ``scale_p``, zoom img2 about its centre ``c`` by ``s ~ U[1 - r, 1 + r]``.

    img2 becomes ``img2'(q) = img2(c + (q - c) / s)`` (bilinear, ``fill`` outside), so a point
    at ``p2`` in img2 moves to ``c + s (p2 - c)``. img1 is unchanged, hence the flow field is not
    resampled; each vector is corrected exactly: ``f'(p) = s * f(p) + (s - 1) * (p - c)``.
    This adds a relative zoom between the two frames (as in FlowNet's "relative" affine).
    Works on a numpy sample, a tensor sample or a batch (each sample its own draw).
    """

    def __init__(
        self,
        scale_p: float = 0.5,
        scale_r: float = 0.05,
        interpolation: str | InterpolationMode = InterpolationMode.BILINEAR,
        fill: float = 0.0,
    ) -> None:
        if not 0.0 <= scale_p <= 1.0:
            raise ValueError(f"FlowRandomAffineScale: scale_p must be in [0, 1], got {scale_p}")
        if not 0.0 <= scale_r < 1.0:
            raise ValueError(f"FlowRandomAffineScale: scale_r must be in [0, 1), got {scale_r}")
        self.scale_p, self.scale_r = float(scale_p), float(scale_r)
        self.interpolation = interpolation_mode(interpolation)
        self.fill = float(fill)

    @property
    def resamples_img(self) -> bool:
        """True when img2's values may fall between integers (a uint8 image is rounded)."""
        return (
            self.scale_p > 0
            and self.scale_r > 0
            and (self.interpolation != "nearest" or not self.fill.is_integer())
        )

    def __call__(self, sample: dict) -> dict:
        b = sample["img"].shape[0] if is_batched(sample["img"]) else 1
        draws = torch.rand(b) < self.scale_p
        if not draws.any() or self.scale_r == 0.0:
            return sample
        s = torch.ones(b, dtype=torch.float64)
        s[draws] = 1.0 + (torch.rand(int(draws.sum()), dtype=torch.float64) * 2 - 1) * self.scale_r
        return self.apply(sample, s)

    def apply(self, sample: dict, scales: torch.Tensor) -> dict:
        """Zoom img2 by the given per-sample ``scales`` ``(B,)`` (``B = 1`` for one sample)."""
        groups = img_channel_groups(sample["img"])
        if len(groups) != 2:
            raise ValueError(
                f"FlowRandomAffineScale: 'img' must hold two images, got groups {groups}"
            )
        img, restore_img = img_to_bchw(sample["img"])
        b, _, h, w = img.shape
        s = scales.to(torch.float64).reshape(b)
        c = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=torch.float64)
        inv = torch.zeros(b, 2, 3, dtype=torch.float64)
        inv[:, 0, 0] = inv[:, 1, 1] = 1.0 / s  # src = c + (q - c) / s
        inv[:, :, 2] = c * (1.0 - 1.0 / s)[:, None]
        c1 = groups[0]
        img2, _ = warp_affine(img[:, c1:], inv.to(img.device), self.interpolation, self.fill)
        out = dict(sample)
        out["img"] = restore_img(torch.cat([img[:, :c1], img2], dim=1))
        if "gt_flow" in sample:
            flow, restore = label_to_bchw(sample["gt_flow"], is_batched(sample["img"]))
            flow = flow.to(img.device)
            dtype = flow.dtype if flow.is_floating_point() else torch.float32
            ys, xs = torch.meshgrid(
                torch.arange(h, dtype=dtype, device=flow.device) - c[1].item(),
                torch.arange(w, dtype=dtype, device=flow.device) - c[0].item(),
                indexing="ij",
            )
            sv = s.to(device=flow.device, dtype=dtype).view(b, 1, 1, 1)
            offset = torch.stack([xs, ys])[None] * (sv - 1.0)
            out["gt_flow"] = restore(flow.to(dtype) * sv + offset)
        return out

    def __repr__(self) -> str:
        return f"FlowRandomAffineScale(scale_p={self.scale_p}, scale_r={self.scale_r})"
