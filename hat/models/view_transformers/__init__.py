"""View transformers: camera-view features -> bird's-eye-view features."""

from hat.models.view_transformers.ipm_points import OUTSIDE, ipm_points
from hat.models.view_transformers.ipm_sample import IpmSample, grid_quant_scale_for
from hat.models.view_transformers.wrapping_transformer import WrappingTransformer

__all__ = ["OUTSIDE", "IpmSample", "WrappingTransformer", "grid_quant_scale_for", "ipm_points"]
