"""The contract between the inference tools and a task (see ``hat/infer/__init__.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hat.errors import UserInputError

__all__ = [
    "InferInputError",
    "InferTask",
    "flatten_outputs",
    "image_pair_batch",
    "parse_model_inputs",
    "read_rgb",
]


class InferInputError(UserInputError):
    """The user's ``--model-inputs`` (files, values) or the model outputs cannot be used."""


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as ``H x W x 3`` uint8 RGB; a clear error when it cannot be read."""
    import cv2

    if not os.path.isfile(path):
        raise InferInputError(f"image file not found: {path}")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise InferInputError(f"cannot decode image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def image_pair_batch(
    first: np.ndarray, second: np.ndarray, size: tuple[int, int] | None, pad_multiple: int
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Two ``H x W x 3`` images as the batch of the image-pair tasks (flow, stereo):
    ``{"img": (1, 6, H', W')}`` float, the channels of ``first`` then ``second``.

    With a deploy ``size`` the images are resized to it (bilinear); without one (eager model)
    they are padded at the bottom/right by edge replication to multiples of ``pad_multiple``.
    The context holds the input ``size`` and the ``deploy_size`` for the post-processing.
    """
    import cv2

    h, w = first.shape[:2]
    imgs = [first, second]
    if size is not None:
        dh, dw = size
        imgs = [cv2.resize(i, (dw, dh), interpolation=cv2.INTER_LINEAR) for i in imgs]
    pair = np.concatenate(imgs, axis=2).transpose(2, 0, 1)
    img = torch.from_numpy(np.ascontiguousarray(pair)).float().unsqueeze(0)
    if size is None:
        ph, pw = (-h) % pad_multiple, (-w) % pad_multiple
        if ph or pw:
            img = F.pad(img, [0, pw, 0, ph], mode="replicate")
    return {"img": img}, {"size": (h, w), "deploy_size": size}


def flatten_outputs(outputs: Any) -> list[torch.Tensor]:
    """Model outputs as the ordered list the ONNX file has
    (:func:`hat.quantization.output_order.output_tensors`: nested dicts/lists depth-first)."""
    from hat.quantization.output_order import output_tensors

    if isinstance(outputs, (torch.Tensor, Mapping, Sequence)):
        return output_tensors(outputs)
    raise InferInputError(f"cannot interpret model outputs of type {type(outputs).__name__}")


def parse_model_inputs(text: str, task: InferTask) -> dict[str, str]:
    """``"name:VALUE,name:VALUE"`` -> ``{name: VALUE}`` checked against the task's names."""
    out: dict[str, str] = {}
    allowed = tuple(task.input_names) + tuple(task.optional_names)
    usage = task.usage()
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition(":")
        if not sep or not name or not value:
            raise InferInputError(f"bad --model-inputs item {item!r}; expected {usage}")
        if name not in allowed:
            raise InferInputError(
                f"unknown --model-inputs name {name!r}; this task takes {', '.join(allowed)}"
            )
        if name in out:
            raise InferInputError(f"--model-inputs names {name!r} twice")
        out[name] = value
    missing = [n for n in task.input_names if n not in out]
    if missing:
        raise InferInputError(f"--model-inputs is missing {', '.join(missing)} (expected {usage})")
    for name in task.file_names:
        if name in out and not os.path.isfile(out[name]):
            raise InferInputError(f"--model-inputs {name}: file not found: {out[name]}")
    return out


class InferTask:
    """How one task goes from user files to pictures.

    Subclasses set ``input_names`` (required ``--model-inputs`` names), ``optional_names`` and
    ``file_names`` (the names whose values are file paths) and implement the four steps the
    tools call in order::

        raw = task.load_inputs(values)                 # user files -> numpy / numbers
        batch, ctx = task.make_batch(raw, size)        # -> batch before the val batch transforms
        result = task.postprocess(outputs, ctx)        # model outputs (flattened) -> numpy
        paths = task.save(result, raw, save_path)      # pictures and files; returns their paths

    ``size`` is the deploy ``(H, W)`` when the model has static shapes (the exported ONNX file),
    else ``None`` (the eager model: pad to what the network needs and crop back).
    """

    input_names: tuple[str, ...] = ()
    optional_names: tuple[str, ...] = ()
    file_names: tuple[str, ...] = ()

    def usage(self) -> str:
        req = [f"{n}:PATH" if n in self.file_names else f"{n}:VALUE" for n in self.input_names]
        opt = [f"{n}:PATH" if n in self.file_names else f"{n}:VALUE" for n in self.optional_names]
        return ",".join(req) + (f"[,{','.join(opt)}]" if opt else "")

    def load_inputs(self, values: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    def make_batch(
        self, raw: dict[str, Any], size: tuple[int, int] | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        raise NotImplementedError

    def postprocess(self, outputs: list[torch.Tensor], ctx: dict[str, Any]) -> Any:
        raise NotImplementedError

    def save(self, result: Any, raw: dict[str, Any], save_path: str) -> dict[str, str]:
        raise NotImplementedError

    def summary(self, result: Any) -> str:
        """One line printed after a run."""
        return ""
