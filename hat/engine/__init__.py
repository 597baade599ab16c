"""Loops (trainers, predictor, calibrator), the callback protocol they fire, batch processors
and the optimizer build hook."""

from hat.engine.batch_processor import BasicBatchProcessor, MultiBatchProcessor
from hat.engine.calibrator import Calibrator
from hat.engine.callback import EVENTS, CallbackMixin
from hat.engine.ddp_trainer import DistributedDataParallelTrainer
from hat.engine.loop_base import LoopBase
from hat.engine.optimizer_builder import OptimizerBuilder
from hat.engine.predictor import Predictor
from hat.engine.trainer import Trainer

__all__ = [
    "BasicBatchProcessor",
    "Calibrator",
    "CallbackMixin",
    "EVENTS",
    "DistributedDataParallelTrainer",
    "LoopBase",
    "MultiBatchProcessor",
    "OptimizerBuilder",
    "Predictor",
    "Trainer",
]
