"""Normalisation of ``"img"`` and the torchvision-style adapter used by HAT configs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hat.registry import OBJECT_REGISTRY

__all__ = ["Normalize", "TorchVisionAdapter"]


@OBJECT_REGISTRY.register
@OBJECT_REGISTRY.alias("ImageNormalize")
class Normalize:
    """``img = (img - mean) / std`` on ``(C, H, W)`` or ``(B, C, H, W)`` tensors.

    ``mean``/``std`` are scalars or per-channel sequences; a sequence shorter than C is tiled
    over the channel groups (e.g. 3 values for a 6-channel image pair).
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        self.std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if (self.std == 0).any():
            raise ValueError(f"Normalize: std must be non-zero, got {std!r}")

    def _per_channel(self, v: torch.Tensor, channels: int, ref: torch.Tensor) -> torch.Tensor:
        if v.numel() != 1:
            if channels % v.numel():
                raise ValueError(f"Normalize: {v.numel()} values do not divide {channels} channels")
            v = v.repeat(channels // v.numel())
        return v.to(device=ref.device, dtype=ref.dtype).view(-1, 1, 1)

    def __call__(self, sample: dict) -> dict:
        img = sample["img"]
        if not isinstance(img, torch.Tensor) or img.dim() not in (3, 4):
            raise TypeError(
                "Normalize: 'img' must be a (C, H, W) or (B, C, H, W) tensor (use ToTensor)"
            )
        if not img.is_floating_point():
            img = img.float()
        c = img.shape[-3]
        out = dict(sample)
        out["img"] = (img - self._per_channel(self.mean, c, img)) / self._per_channel(
            self.std, c, img
        )
        return out

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


_INTERFACES: dict[str, type] = {"Normalize": Normalize}


@OBJECT_REGISTRY.register
class TorchVisionAdapter:
    """Build the torchvision-named transform ``interface`` from our implementations.

    Supported interfaces: ``Normalize``.
    """

    def __init__(self, interface: str | type, **kwargs: Any) -> None:
        name = (
            interface
            if isinstance(interface, str)
            else getattr(interface, "__name__", repr(interface))
        )
        if name not in _INTERFACES:
            raise ValueError(
                f"TorchVisionAdapter: unknown interface {name!r}; "
                f"supported: {', '.join(sorted(_INTERFACES))}"
            )
        self.interface = name
        self.transform = _INTERFACES[name](**kwargs)

    def __call__(self, sample: dict) -> dict:
        return self.transform(sample)

    def __repr__(self) -> str:
        return f"TorchVisionAdapter({self.transform!r})"
