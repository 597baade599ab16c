"""Task adapters for ``tools/infer.py`` and ``tools/infer_hbir.py``: how a task reads the user's
``--model-inputs``, builds the model batch and turns the model outputs into files and pictures.

A config selects its adapter with ``infer_cfg = dict(type="FlowInfer", ...)`` (optical flow),
``dict(type="DisparityInfer", ...)`` (stereo disparity), ``dict(type="SegmentationInfer", ...)``
(semantic segmentation), ``dict(type="BevInfer", ...)`` or ``dict(type="MotrInfer", ...)``
(tracking through a folder of frames: the tools hand the whole sequence to ``task.track``).

Bad inputs raise :class:`InferInputError` (a :class:`hat.errors.UserInputError`); the tools
print it as a one-line error.
"""

from hat.infer.base import (
    InferInputError,
    InferTask,
    flatten_outputs,
    parse_model_inputs,
    read_rgb,
)
from hat.infer.bev import BevInfer
from hat.infer.disparity import DisparityInfer
from hat.infer.flow import FlowInfer
from hat.infer.segmentation import SegmentationInfer
from hat.infer.tracking import MotrInfer

__all__ = [
    "BevInfer",
    "DisparityInfer",
    "FlowInfer",
    "InferInputError",
    "InferTask",
    "MotrInfer",
    "flatten_outputs",
    "parse_model_inputs",
    "read_rgb",
    "SegmentationInfer",
]
