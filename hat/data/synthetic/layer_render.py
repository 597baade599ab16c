"""Paint textured layers into a frame, back to front: shared by the synthetic flow and stereo
generators (the layer each pixel shows is what their exact flow / disparity is computed from)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

__all__ = ["TexturedLayer", "render_layers"]


class TexturedLayer(Protocol):
    """A layer: ``texture`` (th, tw, 3) float32 0..255, ``mask`` (th, tw) float32 in {0, 1} or
    None (covers the whole frame)."""

    texture: np.ndarray
    mask: np.ndarray | None


def render_layers(
    layers: Sequence[TexturedLayer], to_frame: Sequence[np.ndarray], h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """Paint the layers (texture coords -> frame by ``to_frame[i]``, a 3x3 or 2x3 affine), later
    ones over earlier ones; return the ``(h, w, 3)`` float32 image and ``(h, w)`` int32 ids of
    the layer each pixel shows."""
    img = np.zeros((h, w, 3), np.float32)
    labels = np.zeros((h, w), np.int32)
    for i, (layer, m) in enumerate(zip(layers, to_frame)):
        mat = m[:2].astype(np.float64)
        if layer.mask is None:
            img[:] = _warp_texture(layer.texture, mat, h, w)
            labels[:] = i
            continue
        cover = cv2.warpAffine(layer.mask, mat, (w, h), flags=cv2.INTER_LINEAR) > 0.5
        if not cover.any():
            continue
        tex = _warp_texture(layer.texture, mat, h, w)
        img[cover] = tex[cover]
        labels[cover] = i
    return img, labels


def _warp_texture(texture: np.ndarray, mat: np.ndarray, h: int, w: int) -> np.ndarray:
    return cv2.warpAffine(
        texture, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
