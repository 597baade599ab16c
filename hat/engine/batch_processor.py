"""Batch processors: what one training/prediction step does with a batch.

``processor(step_id, batch, model, device, optimizer=None, *_callback=None)``:

1. ``on_batch_begin``; move the batch to ``device``; apply ``batch_transforms`` in order
   (built callables ``batch = t(batch)``, on the training device);
2. ``on_forward_begin``; ``model(batch)`` for a dict (``model(*batch)`` for a list/tuple),
   under ``torch.autocast`` when ``enable_amp``; ``on_forward_end``;
3. when ``need_grad_update``: ``loss_collector(outputs)`` (tensor, list or dict of tensors) is
   summed, ``on_backward_begin``, ``backward()`` (scaled for fp16 AMP and divided by
   ``grad_accumulation_steps``), ``on_backward_end``;
4. ``on_batch_end``; and once every ``grad_accumulation_steps`` steps:
   ``on_optimizer_step_begin`` (gradients already unscaled, so clipping is right),
   ``optimizer.step()``, ``zero_grad``.

Every training loss goes through a :class:`~hat.engine.finite_checks.NonFiniteLossGuard`
(``nonfinite_loss_patience``): a non-finite loss stops the run with a one-line error, or, with
a patience, its backward and update are skipped. No device sync happens here on CUDA (the
guard reads the previous step's flag without blocking the GPU; see that module); the summed
loss of the last batch is kept in ``last_loss`` (a tensor) for loggers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from hat.engine.finite_checks import NonFiniteLossGuard
from hat.registry import OBJECT_REGISTRY
from hat.utils.apply_func import sum_tensors, to_device

__all__ = ["BasicBatchProcessor", "MultiBatchProcessor"]

Hook = Callable[..., None] | None

_AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@OBJECT_REGISTRY.register
class BasicBatchProcessor:
    """Processes one batch per step (see module docstring).

    Args:
        need_grad_update: run backward and the optimizer (training) or only forward.
        batch_transforms: callables applied to the batch on the device, in order.
        loss_collector: ``outputs -> loss(es)``; default: ``outputs["losses"]`` for dict outputs,
            else the outputs themselves.
        enable_amp: autocast the forward (bf16 on CPU, fp16 on CUDA unless ``amp_dtype``).
        amp_dtype: ``"float16"`` or ``"bfloat16"``.
        grad_scaler: a ``torch.amp.GradScaler``; made automatically for fp16 on CUDA.
        grad_accumulation_steps: optimizer step every that many steps (loss divided by it).
        nonfinite_loss_patience: consecutive steps with a NaN/inf loss that are skipped (no
            backward, no update) before the run stops; 0 (default): stop at the first one;
            None: no check. See :mod:`hat.engine.finite_checks`.
    """

    def __init__(
        self,
        need_grad_update: bool = True,
        batch_transforms: Sequence[Callable[[Any], Any]] | None = None,
        loss_collector: Callable[[Any], Any] | None = None,
        enable_amp: bool = False,
        amp_dtype: str | None = None,
        grad_scaler: torch.amp.GradScaler | None = None,
        grad_accumulation_steps: int = 1,
        nonfinite_loss_patience: int | None = 0,
    ) -> None:
        if grad_accumulation_steps < 1:
            raise ValueError(f"grad_accumulation_steps must be >= 1, got {grad_accumulation_steps}")
        if amp_dtype is not None and amp_dtype not in _AMP_DTYPES:
            raise ValueError(f"amp_dtype must be one of {sorted(_AMP_DTYPES)}, got {amp_dtype!r}")
        self.need_grad_update = need_grad_update
        self.batch_transforms = list(batch_transforms or [])
        self.loss_collector = loss_collector or _default_loss_collector
        self.enable_amp = enable_amp
        self.amp_dtype = amp_dtype
        self.grad_scaler = grad_scaler
        self.grad_accumulation_steps = grad_accumulation_steps
        self.nonfinite_loss_patience = nonfinite_loss_patience
        self.loss_guard = NonFiniteLossGuard(nonfinite_loss_patience)
        self.last_loss: torch.Tensor | None = None
        self._backwards_since_zero = 0
        self._scaler_checked = False
        self._pending_scaler_state: dict[str, Any] | None = None

    # One step --------------------------------------------------------------------------------
    def __call__(
        self,
        step_id: int,
        batch: Any,
        model: nn.Module,
        device: torch.device | None,
        optimizer: torch.optim.Optimizer | None = None,
        batch_begin_callback: Hook = None,
        batch_end_callback: Hook = None,
        backward_begin_callback: Hook = None,
        backward_end_callback: Hook = None,
        optimizer_step_begin_callback: Hook = None,
        forward_begin_callback: Hook = None,
        forward_end_callback: Hook = None,
    ) -> Any:
        train = self.need_grad_update and optimizer is not None
        acc = self.grad_accumulation_steps
        update_now = (step_id + 1) % acc == 0
        if train and step_id % acc == 0:
            optimizer.zero_grad(set_to_none=True)
            self._backwards_since_zero = 0
        if train:
            self.loss_guard.begin_step(step_id)
        outputs = []
        for sub_batch in self.split(batch):
            sync = contextlib.nullcontext()
            if train and not update_now and hasattr(model, "no_sync"):
                sync = model.no_sync()  # accumulate locally, all-reduce on the last micro-step
            with sync:
                outputs.append(
                    self._one_batch(
                        sub_batch, model, device, train,
                        batch_begin_callback, batch_end_callback,
                        backward_begin_callback, backward_end_callback,
                        forward_begin_callback, forward_end_callback,
                    )
                )  # fmt: skip
        if train:
            self.loss_guard.end_step()
        if train and update_now and self._backwards_since_zero:  # else: every loss was skipped
            self._optimizer_step(optimizer, optimizer_step_begin_callback)
        return outputs[0] if len(outputs) == 1 else outputs

    def split(self, batch: Any) -> list[Any]:
        """The batches of one step (one here; several in :class:`MultiBatchProcessor`)."""
        return [batch]

    def _one_batch(
        self,
        batch: Any,
        model: nn.Module,
        device: torch.device | None,
        train: bool,
        batch_begin: Hook,
        batch_end: Hook,
        backward_begin: Hook,
        backward_end: Hook,
        forward_begin: Hook,
        forward_end: Hook,
    ) -> Any:
        if batch_begin is not None:
            batch_begin(batch=batch)
        batch = to_device(batch, device)
        for transform in self.batch_transforms:
            batch = transform(batch)
        if forward_begin is not None:
            forward_begin(batch=batch)
        with self._autocast(device):
            model_outs = model(batch) if not isinstance(batch, (list, tuple)) else model(*batch)
        if forward_end is not None:
            forward_end(batch=batch, model_outs=model_outs)
        loss = None
        if train:
            losses = self.loss_collector(model_outs)
            loss = sum_tensors(losses)
            if not self.loss_guard.admit(loss, losses):  # non-finite, within the patience
                self.last_loss = loss.detach()
                if batch_end is not None:
                    batch_end(batch=batch, model_outs=model_outs, loss=loss)
                return model_outs
            if backward_begin is not None:
                backward_begin(batch=batch, model_outs=model_outs, loss=loss)
            acc = self.grad_accumulation_steps
            scaled = loss if acc == 1 else loss / acc
            if self.grad_scaler is not None:
                scaled = self.grad_scaler.scale(scaled)
            scaled.backward()
            self._backwards_since_zero += 1
            if backward_end is not None:
                backward_end(batch=batch, model_outs=model_outs, loss=loss)
            self.last_loss = loss.detach()
        if batch_end is not None:
            batch_end(batch=batch, model_outs=model_outs, loss=loss)
        return model_outs

    def _optimizer_step(self, optimizer: torch.optim.Optimizer, step_begin: Hook) -> None:
        if self.grad_scaler is not None:
            self.grad_scaler.unscale_(optimizer)
        if step_begin is not None:
            step_begin(optimizer=optimizer)
        if self.grad_scaler is not None:
            self.grad_scaler.step(optimizer)
            self.grad_scaler.update()
        else:
            optimizer.step()

    # AMP --------------------------------------------------------------------------------------
    def _autocast(self, device: torch.device | None) -> contextlib.AbstractContextManager:
        if not self.enable_amp:
            return contextlib.nullcontext()
        device_type = torch.device(device).type if device is not None else "cpu"
        dtype = self._amp_dtype(device_type)
        if not self._scaler_checked:
            self._scaler_checked = True
            fp16_cuda = dtype == torch.float16 and device_type == "cuda"
            wants_scaler = self.need_grad_update and fp16_cuda
            if wants_scaler and self.grad_scaler is None:
                self.grad_scaler = torch.amp.GradScaler("cuda")
            if self.grad_scaler is not None and self._pending_scaler_state:
                self.grad_scaler.load_state_dict(self._pending_scaler_state)
                self._pending_scaler_state = None
        return torch.autocast(device_type=device_type, dtype=dtype)

    def _amp_dtype(self, device_type: str) -> torch.dtype:
        if self.amp_dtype is not None:
            return _AMP_DTYPES[self.amp_dtype]
        return torch.float16 if device_type == "cuda" else torch.bfloat16

    def check_finite_loss(self) -> None:
        """Raise :class:`~hat.engine.finite_checks.NonFiniteLossError` if a step whose loss
        was not read yet (CUDA) had a non-finite loss (loops call it before saving/ending)."""
        self.loss_guard.check_pending()

    # Checkpointing ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The grad scaler's state (empty without one)."""
        return {"grad_scaler": self.grad_scaler.state_dict()} if self.grad_scaler else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state.get("grad_scaler"):
            return
        if self.grad_scaler is not None:
            self.grad_scaler.load_state_dict(state["grad_scaler"])
        else:  # the scaler is made at the first AMP step; load it then
            self._pending_scaler_state = state["grad_scaler"]


@OBJECT_REGISTRY.register
class MultiBatchProcessor(BasicBatchProcessor):
    """Like :class:`BasicBatchProcessor`, but a step may hold several batches.

    A list/tuple whose items are all dicts (e.g. one batch per task) is processed batch by
    batch (forward + backward each, one optimizer step); any other batch (a dict, or a tuple of
    tensors from a ``TensorDataset``) is one batch. Returns a list of outputs for several
    batches, the single output otherwise.
    """

    def split(self, batch: Any) -> list[Any]:
        if isinstance(batch, (list, tuple)) and batch and all(isinstance(b, dict) for b in batch):
            return list(batch)
        return [batch]


def _default_loss_collector(outputs: Any) -> Any:
    if isinstance(outputs, dict) and "losses" in outputs:
        return outputs["losses"]
    return outputs
