"""Run a :class:`~hat.engine.predictor.Predictor` on a validation loader during training.

The results (``{metric name: value}``, synchronised over ranks) are stored on the training loop
as ``loop.val_results`` (with ``loop.val_results_step``) so that a later ``Checkpoint`` callback
can keep the best model; put ``Validation`` before ``Checkpoint`` in the callback list.

Which model is evaluated: ``val_model`` if given (with ``init_with_train_model`` it first gets
the training weights), else the training model itself (without its DDP wrapper, so that ranks
may run different step counts). A ``model_convert_pipeline`` is applied to a deep copy of that
model at each validation. The per-module train/eval flags are restored afterwards, so e.g.
frozen BatchNorm layers stay frozen.

A calibration/QAT model is also validated before its first step (``val_on_train_begin``, on by
default for fake-quantized models on a fresh start): the starting point (the calibration result
a QAT stage starts from) competes for the ``best`` checkpoint, so a QAT stage whose epochs all
score worse than its start hands on its start, never a worse model.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from hat.callbacks.metric_updater import format_metrics
from hat.engine.callback import CallbackMixin
from hat.engine.predictor import Predictor
from hat.registry import OBJECT_REGISTRY, build_from_registry
from hat.utils.distributed import unwrap_model

__all__ = ["Validation"]

logger = logging.getLogger(__name__)


@OBJECT_REGISTRY.register
class Validation(CallbackMixin):
    """Validate every ``val_interval`` epochs/steps (``interval_by``) and at the end.

    Args:
        data_loader: a built loader, or a config dict (built on first use; mark it
            ``__lazy_build__=True`` to keep the registry from building it with the trainer).
        batch_processor: usually ``MultiBatchProcessor(need_grad_update=False, ...)``.
        callbacks: callbacks of the validation predictor (e.g. a ``MetricUpdater``).
        val_model: a separate model to evaluate (default: the training model).
        init_with_train_model: copy the training weights into ``val_model`` before each run.
        val_interval, interval_by: how often (``"epoch"`` or ``"step"``).
        val_on_train_end: validate at the end unless the last validation was at that step.
        val_on_train_begin: validate before the first step of a fresh (not resumed) run.
            ``None`` (default): only when the training model is fake-quantized (calibration
            or QAT), whose starting point is a result of its own.
        model_convert_pipeline: ``model -> model`` applied to a copy of the model each time.
        log_interval: progress log every that many validation steps (0: none).
        metrics: metric objects (default: the trainer's ``val_metrics``).
    """

    def __init__(
        self,
        data_loader: Any,
        batch_processor: Callable[..., Any],
        callbacks: Sequence[Any] | None = None,
        val_model: nn.Module | None = None,
        init_with_train_model: bool = True,
        val_interval: int = 1,
        interval_by: str = "epoch",
        val_on_train_end: bool = True,
        val_on_train_begin: bool | None = None,
        model_convert_pipeline: Callable[[nn.Module], nn.Module] | None = None,
        log_interval: int = 0,
        metrics: Sequence[Any] | None = None,
    ) -> None:
        if interval_by not in ("epoch", "step"):
            raise ValueError(f"interval_by must be 'epoch' or 'step', got {interval_by!r}")
        if val_interval < 1:
            raise ValueError(f"val_interval must be >= 1, got {val_interval}")
        self.data_loader = data_loader
        self.batch_processor = batch_processor
        self.callbacks = list(callbacks or [])
        self.val_model = val_model
        self.init_with_train_model = init_with_train_model
        self.val_interval = val_interval
        self.interval_by = interval_by
        self.val_on_train_end = val_on_train_end
        self.val_on_train_begin = val_on_train_begin
        self.model_convert_pipeline = model_convert_pipeline
        self.log_interval = log_interval
        self.metrics = list(metrics) if metrics is not None else None
        self._last_step: int | None = None

    def on_loop_begin(self, loop: Any = None, **kwargs: Any) -> None:
        if loop.global_steps_done() != 0:
            return  # resumed: the start was validated (and competed for best) by the first run
        wanted = self.val_on_train_begin
        if wanted is None:
            from hat.quantization.fake_quantize import get_fake_quantize_state

            wanted = get_fake_quantize_state(unwrap_model(loop.model)) is not None
        if wanted:
            self.validate(loop, **kwargs)

    def on_step_end(self, loop: Any = None, global_step_id: int = 0, **kwargs: Any) -> None:
        if self.interval_by == "step" and (global_step_id + 1) % self.val_interval == 0:
            self.validate(loop, **kwargs)

    def on_epoch_end(self, loop: Any = None, epoch_id: int = 0, **kwargs: Any) -> None:
        if self.interval_by == "epoch" and (epoch_id + 1) % self.val_interval == 0:
            self.validate(loop, epoch_id=epoch_id, **kwargs)

    def on_loop_end(self, loop: Any = None, **kwargs: Any) -> None:
        if self.val_on_train_end and self._last_step != loop.global_steps_done():
            self.validate(loop, **kwargs)

    def validate(self, loop: Any, **kwargs: Any) -> dict[str, float]:
        """Run the validation predictor now; store and return the results."""
        started = time.perf_counter()
        model = self._model_to_evaluate(loop)
        modes = {m: m.training for m in model.modules()}
        fq_state = _enter_validation_fake_quant(model)
        metrics = self.metrics if self.metrics is not None else loop.val_metrics
        predictor = Predictor(
            model=model,
            data_loader=self._loader(),
            batch_processor=self.batch_processor,
            device=loop.device,
            callbacks=self.callbacks,
            metrics=metrics,
            log_interval=self.log_interval,
        )
        try:
            predictor.fit()
        finally:
            for module, training in modes.items():
                module.training = training
            if fq_state is not None:
                from hat.quantization.fake_quantize import set_fake_quantize

                set_fake_quantize(model, fq_state)
        results = predictor.metric_results()
        loop.val_results = results
        loop.val_results_step = loop.global_steps_done()
        self._last_step = loop.val_results_step
        logger.info(
            "Validation at epoch %d, global step %d: %s (%.1fs)",
            loop.epoch_id + 1,
            loop.val_results_step,
            format_metrics(results) or "no metrics",
            time.perf_counter() - started,
        )
        return results

    def _model_to_evaluate(self, loop: Any) -> nn.Module:
        train_model = unwrap_model(loop.model)
        model = train_model
        if self.val_model is not None:
            model = self.val_model
            if self.init_with_train_model:
                model.load_state_dict(train_model.state_dict())
            model.to(loop.device)
        if self.model_convert_pipeline is not None:
            model = self.model_convert_pipeline(copy.deepcopy(model)).to(loop.device)
        return model

    def _loader(self) -> Any:
        if isinstance(self.data_loader, dict):
            self.data_loader = build_from_registry(self.data_loader, path="Validation.data_loader")
        return self.data_loader


def _enter_validation_fake_quant(model: nn.Module) -> Any:
    """A calibration/QAT model is validated with frozen qparams (VALIDATION state, so the
    validation data does not move the observers); returns the state to restore (or None)."""
    from hat.quantization.fake_quantize import (
        FakeQuantState,
        get_fake_quantize_state,
        set_fake_quantize,
    )

    state = get_fake_quantize_state(model)
    if state is None or state == FakeQuantState.VALIDATION:
        return None
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    return state
