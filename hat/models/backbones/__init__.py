"""Feature extractors."""

from hat.models.backbones.mobilenetv1 import MobileNetV1
from hat.models.backbones.pwcnet import PwcNet

__all__ = ["MobileNetV1", "PwcNet"]
