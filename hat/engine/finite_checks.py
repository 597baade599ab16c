"""Divergence checks: stop on non-finite losses, never save non-finite weights.

:class:`NonFiniteLossGuard` (owned by the batch processor) looks at every training loss:

* ``patience=0`` (default): the first non-finite loss stops the run with
  :class:`NonFiniteLossError`. On CPU the loss is checked before ``backward()``, so the bad
  step changes nothing. On CUDA the check must not wait for the GPU every step: the flag is
  copied to the host without blocking and read at the next step (or at a save / the end of the
  run), so the bad step's update has been applied by then - the ``Checkpoint`` callback refuses
  to save such weights, and the last checkpoint on disk is the last finite one.
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


def _detached(losses: Any) -> Any:
    if isinstance(losses, dict):
        return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in losses.items()}
    return losses.detach() if isinstance(losses, torch.Tensor) else None


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
        # CUDA: (step, pinned host flag, event after its copy, losses, loss) not yet read
        self._pending: list[tuple[int, torch.Tensor, Any, Any, torch.Tensor]] = []

    def begin_step(self, step_id: int) -> None:
        self.check_pending()
        self._step_id = step_id
        self._step_bad = False

    def admit(self, loss: torch.Tensor, losses: Any) -> bool:
        """Whether ``loss`` may be back-propagated (may raise :class:`NonFiniteLossError`)."""
        if self.patience is None:
            return True
        if loss.device.type == "cuda" and self.patience == 0:
            # no sync: copy the flag to pinned memory; it is read once the GPU got past it
            host_flag = torch.empty((), dtype=torch.bool, pin_memory=True)
            host_flag.copy_(torch.isfinite(loss.detach()).all(), non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            pending = (self._step_id, host_flag, event, _detached(losses), loss.detach())
            self._pending.append(pending)
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
            raise NonFiniteLossError(self._message(self._step_id, what, lagged=False))
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

    def check_pending(self) -> None:
        """Read the flags CUDA steps left (waits only for their forward); raise if one was bad."""
        pending, self._pending = self._pending, []
        for step_id, host_flag, event, losses, loss in pending:
            event.synchronize()
            if not bool(host_flag.item()):
                what = describe_losses(losses, loss)
                raise NonFiniteLossError(self._message(step_id, what, lagged=True))

    def _message(self, step_id: int, what: str, lagged: bool) -> str:
        steps = self.consecutive if not lagged else 1
        head = (
            f"training stopped: non-finite {what} at global step {step_id} "
            f"({steps} consecutive step(s), nonfinite_loss_patience={self.patience}); "
        )
        if lagged:
            kept = "no checkpoint is written from this step on"
        else:
            kept = "this step's update was not applied"
        return f"{head}{kept}; {_ADVICE}"
