"""Learning-rate schedules, applied per step in ``on_step_begin``.

Each group's base LR is its ``initial_lr`` (set from ``lr`` at the first run and kept in the
optimizer state, so a resumed run keeps it). A schedule is a pure function
``lr_at(global_step, epoch_id, base_lr)`` of the position, so resuming needs no replay.

Warmup (all updaters): ``warmup_len`` epochs or steps (``warmup_by``); ``warmup_mode="linear"``
rises from ``warmup_begin_ratio * base`` to the schedule's value at the end of warmup
(reached at the last warmup step), ``"constant"`` holds ``warmup_begin_ratio * base``.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from typing import Any

import torch

from hat.engine.callback import CallbackMixin
from hat.registry import OBJECT_REGISTRY

__all__ = ["LrUpdaterBase", "CosLrUpdater", "StepDecayLrUpdater", "CyclicLrUpdater"]

logger = logging.getLogger(__name__)


class LrUpdaterBase(CallbackMixin):
    """Shared warmup, setup and per-step application; subclasses implement :meth:`schedule`."""

    def __init__(
        self,
        warmup_len: int = 0,
        warmup_by: str = "epoch",
        warmup_mode: str = "linear",
        warmup_begin_ratio: float = 0.0,
        step_log_interval: int = 0,
    ) -> None:
        if warmup_by not in ("epoch", "step"):
            raise ValueError(f"warmup_by must be 'epoch' or 'step', got {warmup_by!r}")
        if warmup_mode not in ("linear", "constant"):
            raise ValueError(f"warmup_mode must be 'linear' or 'constant', got {warmup_mode!r}")
        self.warmup_len = warmup_len
        self.warmup_by = warmup_by
        self.warmup_mode = warmup_mode
        self.warmup_begin_ratio = warmup_begin_ratio
        self.step_log_interval = step_log_interval
        self.steps_per_epoch = 1
        self.total_steps = 1
        self.warmup_steps = 0

    def setup(self, steps_per_epoch: int | None, total_steps: int | None) -> None:
        """Fix the run's geometry (called at loop begin; call it yourself to evaluate lr_at)."""
        if not steps_per_epoch or not total_steps:
            raise ValueError(
                f"{type(self).__name__} needs a data loader with a length and a finite run "
                f"(steps_per_epoch={steps_per_epoch}, total_steps={total_steps})"
            )
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        per = steps_per_epoch if self.warmup_by == "epoch" else 1
        self.warmup_steps = int(self.warmup_len * per)

    def lr_at(self, global_step: int, epoch_id: int, base_lr: float) -> float:
        """The LR of ``global_step`` (in epoch ``epoch_id``) for a group with ``base_lr``."""
        if global_step < self.warmup_steps:
            begin = self.warmup_begin_ratio * base_lr
            if self.warmup_mode == "constant":
                return begin
            warm_epoch = self.warmup_steps // self.steps_per_epoch
            target = self.schedule(self.warmup_steps, warm_epoch, base_lr)
            return begin + (target - begin) * (global_step + 1) / self.warmup_steps
        return self.schedule(global_step, epoch_id, base_lr)

    def schedule(self, global_step: int, epoch_id: int, base_lr: float) -> float:
        raise NotImplementedError

    # Callback events ---------------------------------------------------------------------------
    def on_loop_begin(self, loop: Any = None, optimizer: Any = None, **kwargs: Any) -> None:
        self.setup(getattr(loop, "steps_per_epoch", None), getattr(loop, "total_steps", None))
        for group in _groups(optimizer):
            group.setdefault("initial_lr", group["lr"])

    def on_step_begin(
        self, optimizer: Any = None, global_step_id: int = 0, epoch_id: int = 0, **kwargs: Any
    ) -> None:
        groups = _groups(optimizer)
        for group in groups:
            group["lr"] = self.lr_at(global_step_id, epoch_id, group["initial_lr"])
        if self.step_log_interval and global_step_id % self.step_log_interval == 0 and groups:
            lrs = ",".join(f"{g['lr']:.6g}" for g in groups)
            logger.info("%s: global step %d lr=%s", type(self).__name__, global_step_id + 1, lrs)


def _groups(optimizer: torch.optim.Optimizer | None) -> list[dict]:
    return list(optimizer.param_groups) if optimizer is not None else []


@OBJECT_REGISTRY.register
class CosLrUpdater(LrUpdaterBase):
    """Cosine annealing per step from ``base`` to ``stop_lr`` (or ``min_lr_ratio * base``) over the
    steps after warmup.

    Args:
        stop_lr: final LR (absolute, for every group); exclusive with ``min_lr_ratio``.
        min_lr_ratio: final LR as a fraction of each group's base LR (default 0).
        warmup_len, warmup_by, warmup_mode, warmup_begin_ratio, step_log_interval: see module.
    """

    def __init__(
        self,
        stop_lr: float | None = None,
        min_lr_ratio: float | None = None,
        warmup_len: int = 0,
        warmup_by: str = "epoch",
        warmup_mode: str = "linear",
        warmup_begin_ratio: float = 0.0,
        step_log_interval: int = 0,
    ) -> None:
        super().__init__(warmup_len, warmup_by, warmup_mode, warmup_begin_ratio, step_log_interval)
        if stop_lr is not None and min_lr_ratio is not None:
            raise ValueError("give stop_lr or min_lr_ratio, not both")
        self.stop_lr = stop_lr
        self.min_lr_ratio = min_lr_ratio or 0.0

    def schedule(self, global_step: int, epoch_id: int, base_lr: float) -> float:
        end = self.stop_lr if self.stop_lr is not None else self.min_lr_ratio * base_lr
        span = max(self.total_steps - self.warmup_steps, 1)
        progress = min(max(global_step - self.warmup_steps, 0) / span, 1.0)
        return end + (base_lr - end) * (1 + math.cos(math.pi * progress)) / 2


@OBJECT_REGISTRY.register
class StepDecayLrUpdater(LrUpdaterBase):
    """``base * lr_decay_factor ** k`` where ``k`` counts the ``lr_decay_id`` entries already
    reached (epochs, or steps with ``decay_by="step"``).
    """

    def __init__(
        self,
        lr_decay_id: Sequence[int] = (),
        lr_decay_factor: float = 0.1,
        decay_by: str = "epoch",
        warmup_len: int = 0,
        warmup_by: str = "epoch",
        warmup_mode: str = "linear",
        warmup_begin_ratio: float = 0.0,
        step_log_interval: int = 0,
    ) -> None:
        super().__init__(warmup_len, warmup_by, warmup_mode, warmup_begin_ratio, step_log_interval)
        if decay_by not in ("epoch", "step"):
            raise ValueError(f"decay_by must be 'epoch' or 'step', got {decay_by!r}")
        self.lr_decay_id = sorted(lr_decay_id)
        self.lr_decay_factor = lr_decay_factor
        self.decay_by = decay_by

    def schedule(self, global_step: int, epoch_id: int, base_lr: float) -> float:
        position = epoch_id if self.decay_by == "epoch" else global_step
        return base_lr * self.lr_decay_factor ** bisect.bisect_right(self.lr_decay_id, position)


@OBJECT_REGISTRY.register
class CyclicLrUpdater(LrUpdaterBase):
    """Cyclic (one-cycle for ``cyclic_times=1``) cosine schedule, per step.

    Each of the ``cyclic_times`` cycles rises from ``base`` to ``base * target_ratio[0]`` during
    the first ``step_ratio_up`` of the cycle, then falls to ``base * target_ratio[1]``.
    """

    def __init__(
        self,
        target_ratio: Sequence[float] = (10, 1e-4),
        cyclic_times: int = 1,
        step_ratio_up: float = 0.4,
        step_log_interval: int = 0,
        warmup_len: int = 0,
        warmup_by: str = "step",
    ) -> None:
        super().__init__(warmup_len, warmup_by, "linear", 0.0, step_log_interval)
        if len(target_ratio) != 2:
            raise ValueError(f"target_ratio must be (peak ratio, final ratio), got {target_ratio}")
        if not 0 <= step_ratio_up < 1:
            raise ValueError(f"step_ratio_up must be in [0, 1), got {step_ratio_up}")
        self.target_ratio = tuple(float(r) for r in target_ratio)
        self.cyclic_times = cyclic_times
        self.step_ratio_up = step_ratio_up

    def schedule(self, global_step: int, epoch_id: int, base_lr: float) -> float:
        cycle = self.total_steps / self.cyclic_times
        up = cycle * self.step_ratio_up
        position = global_step % cycle if global_step < self.total_steps else cycle
        peak, final = self.target_ratio
        if position < up:
            return base_lr * _anneal_cos(1.0, peak, position / up)
        return base_lr * _anneal_cos(peak, final, (position - up) / max(cycle - up, 1e-12))


def _anneal_cos(start: float, end: float, factor: float) -> float:
    """Cosine from ``start`` (factor 0) to ``end`` (factor 1)."""
    return end + (start - end) / 2 * (math.cos(math.pi * factor) + 1)
