"""Feature extractors."""

from hat.models.backbones.pwcnet import PwcNet

__all__ = ["PwcNet"]
