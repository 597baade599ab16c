"""Training/prediction callbacks.

The protocol (events, :class:`CallbackMixin`) is defined in :mod:`hat.engine.callback`, beside
the loop that fires it, and re-exported here.
"""

from hat.callbacks.checkpoint import Checkpoint
from hat.callbacks.freeze_bn import FreezeBNStatistics
from hat.callbacks.grad_clip import GradClip, GradScale
from hat.callbacks.lr_updater import CosLrUpdater, CyclicLrUpdater, StepDecayLrUpdater
from hat.callbacks.metric_updater import MetricUpdater
from hat.callbacks.stats_monitor import StatsMonitor
from hat.callbacks.tensorboard import TensorBoard
from hat.callbacks.validation import Validation
from hat.engine.callback import EVENTS, CallbackMixin

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
