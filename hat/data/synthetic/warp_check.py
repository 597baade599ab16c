"""How well a generated flow or disparity explains its image pair: the self-check of the
synthetic generators."""

from __future__ import annotations

import numpy as np

__all__ = ["warp_errors"]


def warp_errors(
    ref: np.ndarray, other: np.ndarray, warped: np.ndarray, mask: np.ndarray, who: str
) -> dict[str, float]:
    """Mean absolute errors over ``mask`` of ``warped`` (``other`` resampled by the flow or
    disparity into ``ref``'s frame) and of ``other`` itself against ``ref``.

    Returns ``warp_mae``, ``nowarp_mae``, their ``ratio`` and the ``valid_fraction``; ValueError
    (naming ``who``) when no pixel is valid.
    """
    if not mask.any():
        raise ValueError(f"{who}: no valid pixel to compare")
    ref = ref.astype(np.float32)
    warp_mae = float(np.abs(warped - ref)[mask].mean())
    nowarp_mae = float(np.abs(other.astype(np.float32) - ref)[mask].mean())
    return {
        "warp_mae": warp_mae,
        "nowarp_mae": nowarp_mae,
        "ratio": warp_mae / max(nowarp_mae, 1e-9),
        "valid_fraction": float(mask.mean()),
    }
