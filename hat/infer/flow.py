"""Optical-flow inference adapter: two images in, colour-coded flow out."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from hat.infer.base import InferInputError, InferTask, image_pair_batch, read_rgb
from hat.registry import OBJECT_REGISTRY

__all__ = ["FlowInfer"]


@OBJECT_REGISTRY.register
class FlowInfer(InferTask):
    """``--model-inputs img1:PATH,img2:PATH[,gt:PATH.flo]`` -> ``flow.png`` (Middlebury colour
    coding), ``flow.flo`` (pixels of the input images) and ``panel.png`` (image 1 | image 2 |
    flow, plus ground truth and error map when ``gt`` is given).

    Eager models get the images padded at the bottom/right (edge replication) to multiples of
    ``pad_multiple`` and the flow cropped back; static-shape models get the images resized to
    the deploy size and the flow resized back with its vectors rescaled.
    """

    input_names = ("img1", "img2")
    optional_names = ("gt",)
    file_names = ("img1", "img2", "gt")

    def __init__(self, pad_multiple: int = 64) -> None:
        self.pad_multiple = pad_multiple

    def load_inputs(self, values: dict[str, str]) -> dict[str, Any]:
        from hat.visualize import read_flo

        raw: dict[str, Any] = {"img1": read_rgb(values["img1"]), "img2": read_rgb(values["img2"])}
        if raw["img1"].shape != raw["img2"].shape:
            raise InferInputError(
                f"the two images differ in size: {raw['img1'].shape} vs {raw['img2'].shape}"
            )
        if "gt" in values:
            raw["gt"] = read_flo(values["gt"])
            if raw["gt"].shape[:2] != raw["img1"].shape[:2]:
                raise InferInputError(
                    f"gt flow {raw['gt'].shape[:2]} and images {raw['img1'].shape[:2]} differ "
                    "in size"
                )
        return raw

    def make_batch(
        self, raw: dict[str, Any], size: tuple[int, int] | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return image_pair_batch(raw["img1"], raw["img2"], size, self.pad_multiple)

    def postprocess(self, outputs: list[torch.Tensor], ctx: dict[str, Any]) -> np.ndarray:
        import cv2

        h, w = ctx["size"]
        flow = outputs[0][0].float().cpu().numpy().transpose(1, 2, 0)
        if ctx["deploy_size"] is None:
            return np.ascontiguousarray(flow[:h, :w])
        dh, dw = ctx["deploy_size"]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / dw
        flow[..., 1] *= h / dh
        return flow

    def save(self, result: np.ndarray, raw: dict[str, Any], save_path: str) -> dict[str, str]:
        import cv2

        from hat.visualize import flow_to_color, save_flow_visualization, write_flo

        os.makedirs(save_path, exist_ok=True)
        paths = {
            "flow_png": os.path.join(save_path, "flow.png"),
            "flow_flo": os.path.join(save_path, "flow.flo"),
            "panel": os.path.join(save_path, "panel.png"),
        }
        color = cv2.cvtColor(flow_to_color(result), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(paths["flow_png"], color):
            raise InferInputError(f"cannot write {paths['flow_png']}")
        write_flo(paths["flow_flo"], result.astype(np.float32))
        save_flow_visualization(paths["panel"], raw["img1"], raw["img2"], result, gt=raw.get("gt"))
        return paths

    def summary(self, result: np.ndarray) -> str:
        mag = np.linalg.norm(result, axis=-1)
        h, w = result.shape[:2]
        return f"flow {w}x{h}: mean |flow| {mag.mean():.3f} px, max {mag.max():.3f} px"
