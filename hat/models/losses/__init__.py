"""Losses."""

from hat.models.losses.focal_loss import ClassificationFocalLoss
from hat.models.losses.lnnorm_loss import LnNormLoss

__all__ = ["ClassificationFocalLoss", "LnNormLoss"]
