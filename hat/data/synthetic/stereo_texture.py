"""Surface textures for the synthetic stereo scenes: noise, stripes, blobs, with shading.

Every texture is an ``(h, w, 3)`` float32 array in 0..255 defined in the surface's own
coordinates; the renderer maps it into both cameras, so the shading (a smooth multiplicative
field, like diffuse lighting) is the same in both views.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["TEXTURE_KINDS", "make_texture"]

TEXTURE_KINDS = ("noise", "stripes", "blobs")


def _smooth_noise(rng: np.random.Generator, h: int, w: int, period: float, ch: int) -> np.ndarray:
    """Band-limited noise with features about ``period`` px wide, ``(h, w, ch)``, std ~1."""
    p = max(3.0, period)
    gh, gw = int(math.ceil(h / p)) + 3, int(math.ceil(w / p)) + 3
    grid = rng.standard_normal((gh, gw, ch)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * p), int(gh * p)), interpolation=cv2.INTER_CUBIC)
    big = big.reshape(big.shape[0], big.shape[1], ch)
    oy, ox = rng.integers(0, int(p), 2)
    return big[oy : oy + h, ox : ox + w]


def _noise(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    """Multi-scale colour noise with correlated channels."""
    tex = np.zeros((h, w, 3), np.float32)
    for period in (64, 32, 16, 8, 5):
        mix = (np.eye(3) * 0.6 + rng.uniform(0.0, 0.6, (3, 3))).astype(np.float32)
        tex += (_smooth_noise(rng, h, w, period * unit, 3) @ mix.T) * rng.uniform(0.5, 1.0)
    return tex


def _stripes(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    """One or two sinusoidal gratings (random period and angle) over weak noise."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    tex = 0.4 * _noise(rng, h, w, unit)
    for _ in range(int(rng.integers(1, 3))):
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(8, 32) * unit
        phase = (xs * math.cos(angle) + ys * math.sin(angle)) * (2 * math.pi / period)
        wave = np.sin(phase + rng.uniform(0, 2 * math.pi))
        if rng.random() < 0.5:
            wave = np.sign(wave) * np.abs(wave) ** 0.3  # harder, bar-like edges
        color = rng.uniform(-1, 1, 3).astype(np.float32)
        tex += wave[..., None] * color * 2.0
    return tex


def _blobs(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    """Many filled circles and ellipses of random colours over weak noise."""
    tex = 0.5 * _noise(rng, h, w, unit)
    count = int(rng.integers(15, 40) * max(1.0, h * w / 160.0**2))
    for _ in range(count):
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = tuple(int(a) for a in rng.uniform(2, 22, 2) * unit + 1)
        color = tuple(float(c) for c in rng.uniform(-2.5, 2.5, 3))
        cv2.ellipse(tex, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
    return tex


def _shading(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth multiplicative lighting field around 1: a linear ramp plus soft blotches."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.uniform(-0.25, 0.25, 2)
    ramp = gx * (xs / max(w - 1, 1) - 0.5) + gy * (ys / max(h - 1, 1) - 0.5)
    blotch = _smooth_noise(rng, h, w, max(h, w) / 3.0, 1)[..., 0] * rng.uniform(0.03, 0.12)
    return np.clip(1.0 + ramp + blotch, 0.5, 1.5)[..., None].astype(np.float32)


def make_texture(
    rng: np.random.Generator,
    h: int,
    w: int,
    unit: float = 1.0,
    kind: str | None = None,
    contrast: float | None = None,
) -> np.ndarray:
    """A shaded ``(h, w, 3)`` float32 texture in 0..255.

    Args:
        unit: feature scale (1.0 at 576 px image width).
        kind: one of :data:`TEXTURE_KINDS`; random when None.
        contrast: standard deviation in grey levels; random (mostly 25..45, sometimes a weakly
            textured 6..12) when None.
    """
    kind = kind if kind is not None else str(rng.choice(TEXTURE_KINDS))
    make = {"noise": _noise, "stripes": _stripes, "blobs": _blobs}[kind]
    tex = make(rng, h, w, unit)
    tex -= tex.mean(axis=(0, 1))
    tex /= tex.std() + 1e-6
    if contrast is None:
        contrast = rng.uniform(6, 12) if rng.random() < 0.1 else rng.uniform(25, 45)
    base = rng.uniform(60, 195, 3).astype(np.float32)
    tex = (base + tex * contrast) * _shading(rng, h, w)
    return np.clip(cv2.GaussianBlur(tex, (0, 0), 0.9), 0, 255)
