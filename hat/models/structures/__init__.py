"""Task modules: backbone + head + loss with the train/eval contract of ``docs/design.md``."""

from hat.models.structures.motr import Motr
from hat.models.structures.motr_qim import MotrQim
from hat.models.structures.pwcnet_task import PwcnetTask
from hat.models.structures.segmentor import Segmentor
from hat.models.structures.stereonet import StereoNet
from hat.models.structures.stereonet_postprocess import StereoNetPostProcess

__all__ = ["Motr", "MotrQim", "PwcnetTask", "Segmentor", "StereoNet", "StereoNetPostProcess"]
