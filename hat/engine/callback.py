"""The callback protocol: events fired by loops and batch processors, in list order.

It lives beside the loop that fires it (:mod:`hat.engine.loop_base`); the callbacks of
:mod:`hat.callbacks` build on it (``from hat.callbacks import CallbackMixin`` re-exports it).

A callback is any object with some of these methods; :class:`CallbackMixin` provides no-op
defaults and a ``state_dict``/``load_state_dict`` pair that checkpoints use. Every event is
called with keyword arguments only; accept ``**kwargs`` and take what you need.

Events, in firing order (one training step shown)::

    on_loop_begin                       once, after the model is prepared (and resumed)
      on_epoch_begin                    each epoch (model already in train/eval mode)
        on_step_begin                   before a batch is fetched into the processor
          on_batch_begin                per (sub-)batch, before moving it to the device
          on_forward_begin              after device transfer and batch transforms
          on_forward_end                with model_outs
          on_backward_begin             with loss (training only)
          on_backward_end
          on_batch_end                  with model_outs, loss
          on_optimizer_step_begin       right before optimizer.step (grads unscaled)
        on_step_end                     with batch, model_outs, loss
      on_epoch_end                      only when the epoch ran to its end
    on_loop_end                         once

Keyword arguments available on every event: ``loop`` (the trainer/predictor), ``model``
(possibly DDP-wrapped; use :func:`hat.utils.distributed.unwrap_model`), ``optimizer``,
``device``, ``epoch_id``, ``step_id`` (within the epoch), ``global_step_id`` (0-based),
``num_epochs``, ``num_steps``, ``steps_per_epoch``, ``metrics`` (the loop's own metrics),
``train_metrics``, ``val_metrics``. Step/batch events add ``batch``, ``model_outs``, ``loss``
as soon as they exist.

Order matters and is the list order. A sensible order: LR updater first (sets the LR in
``on_step_begin``), then monitors/metric updaters, then ``Validation``, then ``Checkpoint``
(which reads the validation result to keep the best), then writers such as ``TensorBoard``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EVENTS", "CallbackMixin", "overrides_event"]

EVENTS = (
    "on_loop_begin",
    "on_loop_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_step_begin",
    "on_step_end",
    "on_batch_begin",
    "on_batch_end",
    "on_forward_begin",
    "on_forward_end",
    "on_backward_begin",
    "on_backward_end",
    "on_optimizer_step_begin",
)


class CallbackMixin:
    """No-op defaults for every event, plus (empty) checkpointable state."""

    def on_loop_begin(self, **kwargs: Any) -> None:
        pass

    def on_loop_end(self, **kwargs: Any) -> None:
        pass

    def on_epoch_begin(self, **kwargs: Any) -> None:
        pass

    def on_epoch_end(self, **kwargs: Any) -> None:
        pass

    def on_step_begin(self, **kwargs: Any) -> None:
        pass

    def on_step_end(self, **kwargs: Any) -> None:
        pass

    def on_batch_begin(self, **kwargs: Any) -> None:
        pass

    def on_batch_end(self, **kwargs: Any) -> None:
        pass

    def on_forward_begin(self, **kwargs: Any) -> None:
        pass

    def on_forward_end(self, **kwargs: Any) -> None:
        pass

    def on_backward_begin(self, **kwargs: Any) -> None:
        pass

    def on_backward_end(self, **kwargs: Any) -> None:
        pass

    def on_optimizer_step_begin(self, **kwargs: Any) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep to resume this callback (tensors/primitives only)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def overrides_event(callback: Any, event: str) -> bool:
    """Whether ``callback`` really handles ``event`` (not just the inherited no-op)."""
    method = getattr(type(callback), event, None)
    if method is None:
        return False
    return method is not getattr(CallbackMixin, event, None)
