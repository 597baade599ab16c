"""Divergence checks: stop on non-finite losses, never save non-finite weights.

:class:`NonFiniteLossGuard` (owned by the batch processor) looks at every training loss:

* ``patience=0`` (default): the first non-finite loss stops the run with
  :class:`NonFiniteLossError`. On CPU the loss is checked before ``backward()``, so the bad
  step changes nothing. On CUDA the check must not wait for the GPU every step: the finite
  losses are counted on the device and the count is read every ``CUDA_READ_EVERY`` steps,
  before each save and at the end of the run, so the bad steps' updates have been applied by
  then - but nothing is saved from them (the save reads the count first; the ``Checkpoint``
  callback also refuses NaN/inf parameters), so the last checkpoint on disk is a finite one.
* ``patience=N > 0``: up to ``N`` consecutive steps with a non-finite loss are skipped (no
  backward, no optimizer step) with a warning; one more stops the run. Skipping needs the value
  before ``backward()``: one host-device sync per step on CUDA, and under DDP the ranks agree
  with one tiny all-reduce per step (a step is skipped on every rank when one rank's loss is
  non-finite).
* ``patience=None``: no check.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from hat.errors import UserInputError

__all__ = [
    "NonFiniteError",
    "NonFiniteLossError",
    "NonFiniteWeightsError",
    "NonFiniteLossGuard",
    "non_finite_parameters",
    "describe_losses",
]

logger = logging.getLogger(__name__)

CUDA_READ_EVERY = 20  # CUDA steps between reads of the on-device count of finite losses
_ADVICE = "lower the learning rate or check the data, then --resume from the last checkpoint"


class NonFiniteError(UserInputError):
    """Training diverged: a loss or the weights are NaN/inf (the tools print one line)."""


class NonFiniteLossError(NonFiniteError):
    """More consecutive steps had a non-finite loss than ``nonfinite_loss_patience`` allows."""


class NonFiniteWeightsError(NonFiniteError):
    """The ``Checkpoint`` callback refused to save weights that are NaN/inf."""


def non_finite_parameters(model: nn.Module) -> list[str]:
    """Names of the parameters holding NaN/inf (buffers are not checked: e.g. an observer's
    min/max start at +-inf by design)."""
    bad = []
    for name, param in model.named_parameters():
        if param.is_floating_point() and not bool(torch.isfinite(param).all()):
            bad.append(name)
    return bad


def describe_losses(losses: Any, total: torch.Tensor) -> str:
    """``"loss=nan (flow=nan, smooth=0.12)"`` for a dict of losses, else ``"loss=inf"``."""
    text = f"loss={_fmt(total)}"
    if isinstance(losses, dict) and len(losses) > 1:
        parts = [f"{k}={_fmt(v)}" for k, v in losses.items() if isinstance(v, torch.Tensor)]
        text += f" ({', '.join(parts)})"
    return text


def _all_ranks_finite(finite: bool, device: torch.device) -> bool:
    if dist.get_world_size() == 1:
        return finite
    flag = torch.tensor(1 if finite else 0, dtype=torch.int32, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def _fmt(value: torch.Tensor) -> str:
    value = value.detach().float()
    if value.numel() != 1:
        return f"<{int((~torch.isfinite(value)).sum())} of {value.numel()} non-finite>"
    return f"{value.item():.5g}"


class NonFiniteLossGuard:
    """Counts consecutive steps with a non-finite loss (see module docstring).

    The processor calls :meth:`begin_step`, :meth:`admit` for each loss (False: skip its
    backward) and :meth:`end_step`; loops and checkpoints call :meth:`check_pending`.
    """

    def __init__(self, patience: int | None = 0) -> None:
        if patience is not None and patience < 0:
            raise ValueError(f"nonfinite_loss_patience must be >= 0 or None, got {patience}")
        self.patience = patience
        self.consecutive = 0
        self._step_id = 0
        self._step_bad = False
        # CUDA: finite losses counted on the device since global step _window_start
        self._finite_on_device: torch.Tensor | None = None
        self._counted = 0
        self._window_start = 0

    def begin_step(self, step_id: int) -> None:
        self._step_id = step_id
        self._step_bad = False

    def admit(self, loss: torch.Tensor, losses: Any) -> bool:
        """Whether ``loss`` may be back-propagated (may raise :class:`NonFiniteLossError`)."""
        if self.patience is None:
            return True
        if loss.device.type == "cuda" and self.patience == 0:
            self._count_on_device(loss.detach())
            return True
        value = loss.detach()
        finite = math.isfinite(value.item()) if value.numel() == 1 else bool(value.isfinite().all())
        if self.patience > 0 and dist.is_available() and dist.is_initialized():
            finite = _all_ranks_finite(finite, value.device)  # all ranks skip together
        if finite:
            return True
        if not self._step_bad:
            self._step_bad = True
            self.consecutive += 1
        what = describe_losses(losses, value)
        if self.consecutive > self.patience:
            raise NonFiniteLossError(self._message(self._step_id, what))
        logger.warning(
            "non-finite %s at global step %d: update skipped (%d of nonfinite_loss_patience=%d "
            "consecutive steps)",
            what,
            self._step_id,
            self.consecutive,
            self.patience,
        )
        return False

    def end_step(self) -> None:
        if not self._step_bad:
            self.consecutive = 0

    def _count_on_device(self, value: torch.Tensor) -> None:
        if self._finite_on_device is None:
            self._finite_on_device = torch.zeros((), dtype=torch.int64, device=value.device)
            self._counted = 0
            self._window_start = self._step_id
        finite = value.isfinite() if value.numel() == 1 else value.isfinite().all()
        self._finite_on_device.add_(finite)  # no host sync
        self._counted += 1
        if self._counted >= CUDA_READ_EVERY:
            self.check_pending()

    def check_pending(self) -> None:
        """Read the count of finite CUDA losses (one sync); raise if one was not finite."""
        if self._finite_on_device is None:
            return
        finite, counted = int(self._finite_on_device.item()), self._counted
        self._finite_on_device = None
        if finite < counted:
            where = (
                f"global step {self._step_id}"
                if counted == 1
                else f"{counted - finite} of the global steps {self._window_start}-{self._step_id}"
            )
            raise NonFiniteLossError(
                f"training stopped: non-finite loss at {where} (on CUDA losses are read every "
                f"{CUDA_READ_EVERY} steps and before each save, not waited for each step; "
                f"nonfinite_loss_patience={self.patience}); no checkpoint is written from "
                f"there on; {_ADVICE}"
            )

    def _message(self, step_id: int, what: str) -> str:
        return (
            f"training stopped: non-finite {what} at global step {step_id} "
            f"({self.consecutive} consecutive step(s), nonfinite_loss_patience={self.patience}); "
            f"this step's update was not applied; {_ADVICE}"
        )
