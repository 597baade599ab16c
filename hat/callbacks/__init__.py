"""Training/prediction callbacks (see :mod:`hat.callbacks.callback` for the events)."""

from hat.callbacks.callback import EVENTS, CallbackMixin
from hat.callbacks.checkpoint import Checkpoint
from hat.callbacks.freeze_bn import FreezeBNStatistics
from hat.callbacks.grad_clip import GradClip, GradScale
from hat.callbacks.lr_updater import CosLrUpdater, CyclicLrUpdater, StepDecayLrUpdater
from hat.callbacks.metric_updater import MetricUpdater
from hat.callbacks.stats_monitor import StatsMonitor
from hat.callbacks.tensorboard import TensorBoard
from hat.callbacks.validation import Validation

__all__ = [
    "EVENTS",
    "CallbackMixin",
    "Checkpoint",
    "CosLrUpdater",
    "CyclicLrUpdater",
    "FreezeBNStatistics",
    "GradClip",
    "GradScale",
    "MetricUpdater",
    "StatsMonitor",
    "StepDecayLrUpdater",
    "TensorBoard",
    "Validation",
]
