"""Necks: feature fusion between a backbone and the task heads."""

from hat.models.necks.bifpn import BiFPN
from hat.models.necks.dwunet import DwUnet
from hat.models.necks.fast_scnn_neck import FastSCNNNeck
from hat.models.necks.upscale_fusion import UpscaleAndFusion

__all__ = ["BiFPN", "DwUnet", "FastSCNNNeck", "UpscaleAndFusion"]
