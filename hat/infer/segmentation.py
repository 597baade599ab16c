"""Semantic-segmentation inference adapter: one image in, colour-coded class map out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hat.data.cityscapes_labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABEL_MAPPINGS,
    IGNORE_INDEX,
    TRAIN_ID_COLORS,
)
from hat.infer.base import InferInputError, InferTask, read_rgb
from hat.registry import OBJECT_REGISTRY

__all__ = ["SegmentationInfer", "read_label_ids"]


def read_label_ids(path: str) -> np.ndarray:
    """An 8-bit single-channel label PNG (e.g. ``*_gtFine_labelIds.png``) as ``H x W`` uint8."""
    import cv2

    if not os.path.isfile(path):
        raise InferInputError(f"label file not found: {path}")
    lab = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if lab is None:
        raise InferInputError(f"cannot decode label image {path}")
    if lab.ndim != 2 or lab.dtype != np.uint8:
        raise InferInputError(
            f"{path}: expected a single-channel 8-bit labelIds PNG (e.g. *_gtFine_labelIds.png), "
            f"got shape {lab.shape} dtype {lab.dtype}"
        )
    return lab


@OBJECT_REGISTRY.register
class SegmentationInfer(InferTask):
    """``--model-inputs img:PATH[,gt:PATH_gtFine_labelIds.png]`` -> pictures of the prediction.

    Writes ``overlay.png`` (palette colours blended over the image), ``seg_color.png`` (the
    colour map), ``legend.png`` (class names, predicted ones in black), ``pred_trainIds.png``
    (the class ids, 8-bit), ``panel.png`` (image | overlay | legend, plus labels and an error
    map when ``gt`` is given) and ``error.png`` with ``gt``.

    The model batch carries the image as a ``(1, 3, H, W)`` uint8 tensor and a placeholder
    ``gt_seg`` (the given labelIds, or all void) so that the config's validation transforms
    (label remap, one-hot, resize, YUV, normalisation) run unchanged. Eager models get the
    image padded at the bottom/right (edge replication) to a multiple of ``pad_multiple``;
    static-shape models get it resized to the deploy size. The prediction (class ids, or
    logits whose argmax is taken) is resized back with nearest neighbour (pixel centres
    aligned) and the padding cropped. With ``gt``, :meth:`summary` (called after
    :meth:`save`, which keeps the labels) adds the image's pixel accuracy and mIoU.

    Args:
        pad_multiple: padding of eager-model inputs.
        class_names, colors: class table (default: the 19 Cityscapes train ids and palette).
        label_mapping: raw label id -> train id, for ``gt`` files (default Cityscapes').
        alpha: weight of the colours in the overlay.
    """

    input_names = ("img",)
    optional_names = ("gt",)
    file_names = ("img", "gt")

    def __init__(
        self,
        pad_multiple: int = 64,
        class_names: Sequence[str] = CITYSCAPES_CLASSES,
        colors: Sequence[Sequence[int]] = TRAIN_ID_COLORS,
        label_mapping: Sequence[int] = CITYSCAPES_LABEL_MAPPINGS,
        alpha: float = 0.5,
    ) -> None:
        if len(colors) < len(class_names):
            raise ValueError("SegmentationInfer: fewer colors than class_names")
        self.pad_multiple = int(pad_multiple)
        self.class_names = list(class_names)
        self.colors = [tuple(int(v) for v in c) for c in colors]
        self.label_mapping = np.array(
            [v if 0 <= v < 255 else IGNORE_INDEX for v in label_mapping], np.uint8
        )
        self.alpha = float(alpha)

    def load_inputs(self, values: dict[str, str]) -> dict[str, Any]:
        raw: dict[str, Any] = {"img": read_rgb(values["img"])}
        if "gt" in values:
            lab = read_label_ids(values["gt"])
            if lab.shape != raw["img"].shape[:2]:
                raise InferInputError(
                    f"gt labels {lab.shape} and image {raw['img'].shape[:2]} differ in size"
                )
            raw["gt_label_ids"] = lab
            table = np.full(256, IGNORE_INDEX, np.uint8)
            table[: len(self.label_mapping)] = self.label_mapping
            raw["gt"] = table[lab]
        return raw

    def make_batch(
        self, raw: dict[str, Any], size: tuple[int, int] | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        import cv2

        img = raw["img"]
        h, w = img.shape[:2]
        lab = raw.get("gt_label_ids")
        if lab is None:
            lab = np.zeros((h, w), np.uint8)  # labelId 0: void
        ph = pw = 0
        if size is not None:
            dh, dw = size
            img = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR)
            lab = cv2.resize(lab, (dw, dh), interpolation=cv2.INTER_NEAREST)
        elif self.pad_multiple > 1:
            m = self.pad_multiple
            ph, pw = (-h) % m, (-w) % m
            if ph or pw:
                img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")
                lab = np.pad(lab, ((0, ph), (0, pw)), mode="constant")
        t_img = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
        t_lab = torch.from_numpy(np.ascontiguousarray(lab))[None, None]
        return {"img": t_img, "gt_seg": t_lab}, {"size": (h, w), "padded": (h + ph, w + pw)}

    def postprocess(self, outputs: list[torch.Tensor], ctx: dict[str, Any]) -> np.ndarray:
        if not outputs:
            raise InferInputError("the model returned no outputs")
        y = outputs[0]
        if y.dim() == 3:
            y = y[:, None]
        if y.dim() != 4:
            raise InferInputError(
                f"expected a (B, C, h, w) or (B, 1, h, w) output, got {tuple(y.shape)}"
            )
        ids = y if (y.shape[1] == 1 and not y.is_floating_point()) else y.argmax(1, keepdim=True)
        ids = F.interpolate(ids.float(), size=ctx["padded"], mode="nearest-exact")
        h, w = ctx["size"]
        return ids[0, 0, :h, :w].round().to(torch.int64).cpu().numpy()

    def save(self, result: np.ndarray, raw: dict[str, Any], save_path: str) -> dict[str, str]:
        import cv2

        from hat.visualize.segmentation import (
            blend_overlay,
            colorize_ids,
            make_seg_panel,
            seg_error_map,
            seg_legend,
        )

        os.makedirs(save_path, exist_ok=True)
        color = colorize_ids(result, self.colors)
        present = np.unique(result[(result >= 0) & (result < len(self.class_names))]).tolist()
        pictures = {
            "overlay": blend_overlay(raw["img"], color, self.alpha),
            "seg_color": color,
            "legend": seg_legend(self.class_names, self.colors, present),
            "panel": make_seg_panel(
                raw["img"], result, raw.get("gt"), self.class_names, self.colors, self.alpha
            ),
        }
        if "gt" in raw:
            pictures["error"] = seg_error_map(result, raw["gt"])
        paths = {}
        for name, pic in pictures.items():
            paths[name] = os.path.join(save_path, f"{name}.png")
            if not cv2.imwrite(paths[name], cv2.cvtColor(pic, cv2.COLOR_RGB2BGR)):
                raise InferInputError(f"cannot write {paths[name]}")
        paths["pred_trainIds"] = os.path.join(save_path, "pred_trainIds.png")
        ids8 = np.where((result >= 0) & (result < 255), result, IGNORE_INDEX).astype(np.uint8)
        if not cv2.imwrite(paths["pred_trainIds"], ids8):
            raise InferInputError(f"cannot write {paths['pred_trainIds']}")
        self._gt_for_summary = raw.get("gt")
        return paths

    def summary(self, result: np.ndarray) -> str:
        h, w = result.shape
        counts = np.bincount(result.clip(0, 255).ravel(), minlength=len(self.class_names))
        top = np.argsort(counts[: len(self.class_names)])[::-1][:3]
        share = ", ".join(
            f"{self.class_names[i]} {100 * counts[i] / result.size:.1f} %" for i in top if counts[i]
        )
        line = f"class map {w}x{h}: {share}"
        gt = getattr(self, "_gt_for_summary", None)
        if gt is not None and gt.shape == result.shape:
            from hat.metrics.mean_iou import MeanIOU

            metric = MeanIOU(self.class_names, log_per_class=False)
            metric.update(
                torch.from_numpy(gt.astype(np.int64))[None], torch.from_numpy(result)[None]
            )
            valid = gt != IGNORE_INDEX
            acc = float((result == gt)[valid].mean()) if valid.any() else float("nan")
            line += f"; vs gt: pixel accuracy {100 * acc:.2f} %, mIoU {metric.compute():.4f}"
        return line
