"""Stereo disparity inference adapter: a rectified pair in, disparity (and depth) out."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from hat.infer.base import InferInputError, InferTask, image_pair_batch, read_rgb
from hat.registry import OBJECT_REGISTRY

__all__ = ["DisparityInfer"]


def _positive_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InferInputError(f"--model-inputs {name}: expected a number, got {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise InferInputError(f"--model-inputs {name}: must be > 0, got {text!r}")
    return value


@OBJECT_REGISTRY.register
class DisparityInfer(InferTask):
    """``--model-inputs imgl:PATH,imgr:PATH[,baseline:B,f:F,gt:PATH.pfm]`` (a rectified pair,
    left image first) -> in ``--save-path``:

    - ``disparity.png`` (colour map with a scale bar, dark blue = 0 px) and ``disparity.pfm``
      (float32 pixels of the left image);
    - with ``baseline`` and ``f`` (focal length in pixels): ``depth = baseline * f /
      disparity`` (the baseline's unit; 0 where the disparity is below 0.01 px) as
      ``depth.png`` (near = red), ``depth.npy`` and ``depth.pfm``;
    - with ``gt`` (a ``.pfm`` disparity, e.g. SceneFlow's): ``error.png`` (``|pred - gt|``,
      JET) and EPE / D1 in the summary line;
    - ``panel.png``: left | right | disparity, then ground truth | error | depth.

    Eager models get the images padded at the bottom/right (edge replication) to multiples of
    ``pad_multiple`` and the disparity cropped back; static-shape models (the exported file)
    get the images resized to the deploy size and the disparity resized back with its values
    scaled by the width ratio. ``max_disp`` fixes the colour scale and the EPE mask.
    """

    input_names = ("imgl", "imgr")
    optional_names = ("baseline", "f", "gt")
    file_names = ("imgl", "imgr", "gt")

    def __init__(self, pad_multiple: int = 16, max_disp: float = 192.0) -> None:
        if pad_multiple < 1:
            raise ValueError(f"DisparityInfer: pad_multiple must be >= 1, got {pad_multiple}")
        self.pad_multiple = int(pad_multiple)
        self.max_disp = float(max_disp)
        # filled by save() for summary(): error statistics and depth of the last result
        self._stats: dict[str, float] | None = None
        self._depth: np.ndarray | None = None

    def load_inputs(self, values: dict[str, str]) -> dict[str, Any]:
        raw: dict[str, Any] = {"imgl": read_rgb(values["imgl"]), "imgr": read_rgb(values["imgr"])}
        if raw["imgl"].shape != raw["imgr"].shape:
            raise InferInputError(
                f"the left and right images differ in size: {raw['imgl'].shape[:2]} vs "
                f"{raw['imgr'].shape[:2]}"
            )
        if ("baseline" in values) != ("f" in values):
            raise InferInputError(
                "--model-inputs: give both baseline and f (focal length) for depth"
            )
        if "baseline" in values:
            raw["baseline"] = _positive_float("baseline", values["baseline"])
            raw["f"] = _positive_float("f", values["f"])
        if "gt" in values:
            raw["gt"] = self._read_gt(values["gt"], raw["imgl"].shape[:2])
        return raw

    @staticmethod
    def _read_gt(path: str, size: tuple[int, int]) -> np.ndarray:
        from hat.data.errors import CorruptFileError
        from hat.data.readers.pfm import read_pfm

        if not path.lower().endswith(".pfm"):
            raise InferInputError(f"--model-inputs gt: expected a .pfm disparity file, got {path}")
        try:
            gt = read_pfm(path)
        except CorruptFileError as exc:
            raise InferInputError(str(exc)) from None
        if gt.ndim != 2:
            raise InferInputError(f"--model-inputs gt: {path} is a 3-channel PFM, not a disparity")
        if gt.shape != tuple(size):
            raise InferInputError(
                f"gt disparity {gt.shape} and images {tuple(size)} differ in size"
            )
        return gt

    def make_batch(
        self, raw: dict[str, Any], size: tuple[int, int] | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return image_pair_batch(raw["imgl"], raw["imgr"], size, self.pad_multiple)

    def postprocess(self, outputs: list[torch.Tensor], ctx: dict[str, Any]) -> np.ndarray:
        import cv2

        h, w = ctx["size"]
        disp = outputs[0].detach().float().cpu().numpy().reshape(outputs[0].shape[-2:])
        if ctx["deploy_size"] is None:
            return np.ascontiguousarray(disp[:h, :w], dtype=np.float32)
        dw = ctx["deploy_size"][1]
        disp = cv2.resize(disp, (w, h), interpolation=cv2.INTER_LINEAR) * (w / dw)
        return disp.astype(np.float32)

    def save(self, result: np.ndarray, raw: dict[str, Any], save_path: str) -> dict[str, str]:
        from hat.data.readers.pfm import write_pfm
        from hat.visualize.disparity import (
            depth_from_disparity,
            depth_to_color,
            disparity_color_max,
            disparity_error_map,
            disparity_to_color,
            save_disparity_visualization,
        )

        os.makedirs(save_path, exist_ok=True)
        paths = {name: os.path.join(save_path, name) for name in ("disparity.png", "disparity.pfm")}
        # colour scale from the known ground truth only (unknown: 0, or inf as in Middlebury)
        vmax = disparity_color_max(raw["gt"], result) if "gt" in raw else None
        self._write_png(paths["disparity.png"], disparity_to_color(result, vmax, scale_bar=True))
        write_pfm(paths["disparity.pfm"], result)
        depth = None
        if "baseline" in raw:
            depth = depth_from_disparity(result, raw["baseline"], raw["f"])
            for name in ("depth.png", "depth.npy", "depth.pfm"):
                paths[name] = os.path.join(save_path, name)
            self._write_png(paths["depth.png"], depth_to_color(depth, scale_bar=True))
            np.save(paths["depth.npy"], depth)
            write_pfm(paths["depth.pfm"], depth)
        if "gt" in raw:
            err, self._stats = disparity_error_map(result, raw["gt"], self.max_disp)
            paths["error.png"] = os.path.join(save_path, "error.png")
            self._write_png(paths["error.png"], err)
        paths["panel.png"] = os.path.join(save_path, "panel.png")
        save_disparity_visualization(
            paths["panel.png"], raw["imgl"], raw["imgr"], result, raw.get("gt"), depth, vmax
        )
        self._depth = depth
        return paths

    @staticmethod
    def _write_png(path: str, rgb: np.ndarray) -> None:
        import cv2

        if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise InferInputError(f"cannot write {path}")

    def summary(self, result: np.ndarray) -> str:
        h, w = result.shape[:2]
        line = f"disparity {w}x{h}: mean {result.mean():.3f} px, max {result.max():.3f} px"
        stats = self._stats
        if stats:
            line += f"; vs gt: EPE {stats['EPE']:.3f} px, D1 {100 * stats['D1']:.2f}%"
        depth = self._depth
        if depth is not None and (depth > 0).any():
            line += f"; depth median {float(np.median(depth[depth > 0])):.3g}"
        return line
