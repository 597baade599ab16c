"""Losses."""

from hat.models.losses.focal_loss import ClassificationFocalLoss
from hat.models.losses.lnnorm_loss import LnNormLoss
from hat.models.losses.smooth_l1_loss import SmoothL1Loss

__all__ = ["ClassificationFocalLoss", "LnNormLoss", "SmoothL1Loss"]
from hat.models.losses.cross_entropy_loss import CrossEntropyLossV2  # noqa: E402

__all__ += ["CrossEntropyLossV2"]
from hat.models.losses.gaussian_focal_loss import GaussianFocalLoss  # noqa: E402
from hat.models.losses.l1_loss import L1Loss  # noqa: E402

__all__ += ["GaussianFocalLoss", "L1Loss"]
