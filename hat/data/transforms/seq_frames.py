"""Per-frame transforms of a clip: ``SeqToTensor``, ``SeqBgrToYuv444``, ``SeqNormalize``.

Each applies the single-image transform of the same name (:class:`~hat.data.transforms.ToTensor`,
:class:`~hat.data.transforms.BgrToYuv444`, :class:`~hat.data.transforms.Normalize`) to every
frame of the clip; they have no random parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hat.data.transforms.color import BgrToYuv444
from hat.data.transforms.normalize import Normalize
from hat.data.transforms.seq_clip import map_frames
from hat.data.transforms.to_tensor import ToTensor
from hat.registry import OBJECT_REGISTRY

__all__ = ["SeqBgrToYuv444", "SeqNormalize", "SeqToTensor"]


@OBJECT_REGISTRY.register
class SeqToTensor:
    """Every frame's ``(H, W, 3)`` image -> ``(3, H, W)`` tensor (uint8 stays uint8, as
    :class:`~hat.data.transforms.ToTensor`), and its numpy arrays (boxes, ids, classes,
    ``ori_shape``) -> tensors of the same dtype.

    Args:
        to_yuv, rgb_input, img_dtype: as :class:`~hat.data.transforms.ToTensor`.
    """

    def __init__(
        self, to_yuv: bool = False, rgb_input: bool = True, img_dtype: str | None = None
    ) -> None:
        self.to_tensor = ToTensor(to_yuv=to_yuv, rgb_input=rgb_input, img_dtype=img_dtype)

    def _frame(self, frame: dict) -> dict:
        out = self.to_tensor({"img": frame["img"]})
        for key, value in frame.items():
            if key != "img" and isinstance(value, np.ndarray):
                frame[key] = torch.from_numpy(np.ascontiguousarray(value))
        frame["img"] = out["img"]
        return frame

    def __call__(self, clip: dict) -> dict:
        return map_frames(clip, "SeqToTensor", self._frame)

    def __repr__(self) -> str:
        t = self.to_tensor
        return f"SeqToTensor(to_yuv={t.to_yuv}, rgb_input={t.rgb_input}, img_dtype={t.img_dtype!r})"


@OBJECT_REGISTRY.register
class SeqBgrToYuv444:
    """Every frame's image to YUV444 (:class:`~hat.data.transforms.BgrToYuv444`; ``rgb_input``:
    the images are RGB, the datasets' default)."""

    def __init__(self, rgb_input: bool = False) -> None:
        self.convert = BgrToYuv444(rgb_input=rgb_input)

    def _frame(self, frame: dict) -> dict:
        img = frame["img"]
        if isinstance(img, np.ndarray):
            frame["img"] = self.convert({"img": [img]})["img"][0]
        else:
            frame["img"] = self.convert({"img": img})["img"]
        return frame

    def __call__(self, clip: dict) -> dict:
        return map_frames(clip, "SeqBgrToYuv444", self._frame)

    def __repr__(self) -> str:
        return f"SeqBgrToYuv444(rgb_input={self.convert.rgb_input})"


@OBJECT_REGISTRY.register
class SeqNormalize:
    """``(img - mean) / std`` on every frame's ``(C, H, W)`` tensor
    (:class:`~hat.data.transforms.Normalize`)."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.normalize = Normalize(mean, std)

    def _frame(self, frame: dict) -> dict:
        frame["img"] = self.normalize({"img": frame["img"]})["img"]
        return frame

    def __call__(self, clip: dict) -> dict:
        return map_frames(clip, "SeqNormalize", self._frame)

    def __repr__(self) -> str:
        n = self.normalize
        return f"SeqNormalize(mean={n.mean.tolist()}, std={n.std.tolist()})"
