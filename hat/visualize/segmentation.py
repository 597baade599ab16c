"""Semantic-segmentation pictures: palette colouring, overlays, error maps, legends, panels.

Images are RGB ``H x W x 3`` uint8 arrays; class maps ``H x W`` integer train ids where
``ignore_index`` (255) marks void pixels (drawn black). Conversion to BGR happens when writing.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from hat.data.cityscapes_labels import CITYSCAPES_CLASSES, IGNORE_INDEX, TRAIN_ID_COLORS
from hat.visualize.image_io import write_rgb_png

__all__ = [
    "blend_overlay",
    "colorize_ids",
    "make_seg_panel",
    "save_seg_visualization",
    "seg_error_map",
    "seg_legend",
]

_ERR_OK = (40, 160, 60)
_ERR_WRONG = (230, 30, 30)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _palette(colors: Sequence[Sequence[int]]) -> np.ndarray:
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(colors)] = np.asarray(colors, np.uint8)
    return lut


def colorize_ids(ids: np.ndarray, colors: Sequence[Sequence[int]] = TRAIN_ID_COLORS) -> np.ndarray:
    """``H x W`` class ids -> RGB with ``colors[id]`` (Cityscapes palette); other ids black."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"colorize_ids: expected an (H, W) class map, got {ids.shape}")
    idx = np.where((ids >= 0) & (ids < len(colors)), ids, 255).astype(np.uint8)
    return _palette(colors)[idx]


def blend_overlay(img: np.ndarray, color: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``(1 - alpha) * img + alpha * color`` (both RGB, same size)."""
    if img.shape != color.shape:
        raise ValueError(f"blend_overlay: image {img.shape} and colours {color.shape} differ")
    out = (1.0 - alpha) * img.astype(np.float32) + alpha * color.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def seg_error_map(pred: np.ndarray, gt: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Green where ``pred == gt``, red where they differ, black where ``gt`` is ignored."""
    if pred.shape != gt.shape:
        raise ValueError(f"seg_error_map: prediction {pred.shape} and labels {gt.shape} differ")
    out = np.zeros(pred.shape + (3,), np.uint8)
    valid = gt != ignore_index
    out[valid & (pred == gt)] = _ERR_OK
    out[valid & (pred != gt)] = _ERR_WRONG
    return out


def seg_legend(
    class_names: Sequence[str] = CITYSCAPES_CLASSES,
    colors: Sequence[Sequence[int]] = TRAIN_ID_COLORS,
    present: Sequence[int] | None = None,
    height: int | None = None,
    row: int = 18,
) -> np.ndarray:
    """A white column with one colour swatch and name per class; classes in ``present`` (e.g.
    the predicted ones) are written in black, the others in grey. ``height`` pads the column."""
    n = len(class_names)
    h = max(height or 0, row * n + 8)
    width = 12 + row + 8 + max(cv2.getTextSize(c, _FONT, 0.45, 1)[0][0] for c in class_names)
    out = np.full((h, width, 3), 255, np.uint8)
    shown = set(range(n)) if present is None else {int(i) for i in present}
    for i, (name, col) in enumerate(zip(class_names, colors)):
        y = 4 + i * row
        cv2.rectangle(out, (6, y + 2), (6 + row - 4, y + row - 2), tuple(int(c) for c in col), -1)
        cv2.rectangle(out, (6, y + 2), (6 + row - 4, y + row - 2), (0, 0, 0), 1)
        ink = (0, 0, 0) if i in shown else (170, 170, 170)
        cv2.putText(out, name, (12 + row, y + row - 5), _FONT, 0.45, ink, 1, cv2.LINE_AA)
    return out


def _titled(img: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((22, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, title, (6, 16), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def make_seg_panel(
    img: np.ndarray,
    pred: np.ndarray,
    gt: np.ndarray | None = None,
    class_names: Sequence[str] = CITYSCAPES_CLASSES,
    colors: Sequence[Sequence[int]] = TRAIN_ID_COLORS,
    alpha: float = 0.5,
) -> np.ndarray:
    """image | overlay over prediction | legend; with ``gt`` a second row: labels | errors."""
    color = colorize_ids(pred, colors)
    top = [_titled(img, "image"), _titled(blend_overlay(img, color, alpha), "prediction")]
    rows = [np.concatenate(top, axis=1)]
    if gt is not None:
        acc = float((pred == gt)[gt != IGNORE_INDEX].mean()) if (gt != IGNORE_INDEX).any() else 0
        bottom = [
            _titled(colorize_ids(gt, colors), "ground truth"),
            _titled(seg_error_map(pred, gt), f"errors (red); pixel accuracy {100 * acc:.1f} %"),
        ]
        rows.append(np.concatenate(bottom, axis=1))
    grid = np.concatenate(rows, axis=0)
    present = np.unique(pred[(pred >= 0) & (pred < len(class_names))])
    legend = seg_legend(class_names, colors, present.tolist(), height=grid.shape[0])
    if legend.shape[0] > grid.shape[0]:
        pad = np.full((legend.shape[0] - grid.shape[0],) + grid.shape[1:], 255, np.uint8)
        grid = np.concatenate([grid, pad], axis=0)
    return np.concatenate([grid, legend], axis=1)


def save_seg_visualization(path: str, img: np.ndarray, pred: np.ndarray, **kwargs) -> None:
    """Write :func:`make_seg_panel` as a PNG (directories created)."""
    write_rgb_png(path, make_seg_panel(img, pred, **kwargs))
