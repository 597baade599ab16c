"""Necks: feature fusion between a backbone and the task heads."""

from hat.models.necks.dwunet import DwUnet
from hat.models.necks.upscale_fusion import UpscaleAndFusion

__all__ = ["DwUnet", "UpscaleAndFusion"]
