"""Progress log: epoch/step, loss, lr, samples/s and ETA every ``log_freq`` steps."""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

import torch

from hat.engine.callback import CallbackMixin
from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import get_world_size

__all__ = ["StatsMonitor"]

logger = logging.getLogger(__name__)


@OBJECT_REGISTRY.register
class StatsMonitor(CallbackMixin):
    """Logs progress every ``log_freq`` steps and a summary at each epoch end.

    The loss is the summed loss of the last batch on this rank (read with ``.item()`` only when
    a line is logged). Throughput counts all ranks (``batch_size * world_size`` per step).

    Args:
        log_freq: steps between log lines.
        batch_size: samples per step on one rank; default: the data loader's ``batch_size``.
    """

    def __init__(self, log_freq: int = 200, batch_size: int | None = None) -> None:
        if log_freq < 1:
            raise ValueError(f"log_freq must be >= 1, got {log_freq}")
        self.log_freq = log_freq
        self.batch_size = batch_size
        self._window_start = 0.0
        self._window_steps = 0
        self._epoch_start = 0.0
        self._epoch_steps = 0
        self._run_start = 0.0
        self._run_steps = 0

    def on_loop_begin(self, loop: Any = None, **kwargs: Any) -> None:
        self._run_start = time.perf_counter()
        self._run_steps = 0
        if self.batch_size is None:
            self.batch_size = getattr(getattr(loop, "data_loader", None), "batch_size", None)

    def on_epoch_begin(self, **kwargs: Any) -> None:
        self._epoch_start = self._window_start = time.perf_counter()
        self._epoch_steps = self._window_steps = 0

    def on_step_end(
        self,
        loop: Any = None,
        epoch_id: int = 0,
        step_id: int = 0,
        global_step_id: int = 0,
        loss: torch.Tensor | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        self._window_steps += 1
        self._epoch_steps += 1
        self._run_steps += 1
        if (step_id + 1) % self.log_freq != 0:
            return
        now = time.perf_counter()
        step_time = (now - self._window_start) / max(self._window_steps, 1)
        parts = [self._position(loop, epoch_id, step_id, global_step_id)]
        if loss is not None:
            parts.append(f"loss={loss.item():.5g}")
        if optimizer is not None:
            lrs = sorted({g["lr"] for g in optimizer.param_groups}, reverse=True)
            parts.append("lr=" + ",".join(f"{lr:.4g}" for lr in lrs))
        if self.batch_size:
            parts.append(f"{self.batch_size * get_world_size() / step_time:.1f} samples/s")
        parts.append(f"{step_time * 1000:.1f} ms/step")
        remaining = self._remaining_steps(loop, global_step_id)
        if remaining is not None:
            parts.append(f"ETA {_duration(remaining * step_time)}")
        logger.info(" ".join(parts))
        self._window_start, self._window_steps = now, 0

    def on_epoch_end(self, loop: Any = None, epoch_id: int = 0, **kwargs: Any) -> None:
        seconds = time.perf_counter() - self._epoch_start
        total = _num_epochs(loop)
        of = f"/{total}" if total else ""
        steps, took = self._epoch_steps, _duration(seconds)
        logger.info("Epoch[%d%s] done: %d steps in %s", epoch_id + 1, of, steps, took)

    @staticmethod
    def _position(loop: Any, epoch_id: int, step_id: int, global_step_id: int) -> str:
        per_epoch = getattr(loop, "steps_per_epoch", None)
        total = getattr(loop, "total_steps", None)
        epochs = _num_epochs(loop)
        text = f"Epoch[{epoch_id + 1}{f'/{epochs}' if epochs else ''}]"
        text += f" Step[{step_id + 1}{f'/{per_epoch}' if per_epoch else ''}]"
        if total:
            text += f" GlobalStep[{global_step_id + 1}/{total}]"
        return text

    @staticmethod
    def _remaining_steps(loop: Any, global_step_id: int) -> int | None:
        total = getattr(loop, "total_steps", None)
        return None if total is None else max(total - global_step_id - 1, 0)


def _num_epochs(loop: Any) -> int | None:
    """The epoch budget when the loop stops by epoch (else there is none)."""
    if getattr(loop, "stop_by", "") != "epoch":
        return None
    return getattr(loop, "num_epochs", None)


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds)))
