"""Feature extractors."""

from hat.models.backbones.efficientnet import EfficientNet
from hat.models.backbones.mobilenetv1 import MobileNetV1
from hat.models.backbones.pwcnet import PwcNet
from hat.models.backbones.stereonet_neck import StereoNetNeck

__all__ = ["EfficientNet", "MobileNetV1", "PwcNet", "StereoNetNeck"]
