"""Losses."""

from hat.models.losses.lnnorm_loss import LnNormLoss

__all__ = ["LnNormLoss"]
