"""Task adapters for ``tools/infer.py`` and ``tools/infer_hbir.py``: how a task reads the user's
``--model-inputs``, builds the model batch and turns the model outputs into files and pictures.

A config selects its adapter with ``infer_cfg = dict(type="FlowInfer", ...)`` (optical flow) or
``dict(type="DisparityInfer", ...)`` (stereo disparity).
"""

from hat.infer.base import InferTask, flatten_outputs, parse_model_inputs, read_rgb
from hat.infer.disparity import DisparityInfer
from hat.infer.flow import FlowInfer

__all__ = [
    "DisparityInfer",
    "FlowInfer",
    "InferTask",
    "flatten_outputs",
    "parse_model_inputs",
    "read_rgb",
]
