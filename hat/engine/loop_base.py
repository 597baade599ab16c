"""The loop shared by trainers and predictors: epochs of steps, callbacks in list order.

One step, in full (``_run_step``)::

    fire("on_step_begin", batch=batch)
    model_outs = batch_processor(global_step_id, batch, model, device, optimizer, **hooks)
    fire("on_step_end", batch=batch, model_outs=model_outs, loss=batch_processor.last_loss)

``hooks`` are the batch-level events (``on_batch_begin`` ... ``on_optimizer_step_begin``); an
event no callback implements costs nothing. Counters: ``epoch_id`` and ``step_id`` (within the
epoch) are 0-based and name the step being run; ``global_step_id`` counts all steps.

Before the first step :meth:`LoopBase.prepare` runs, in this order: ``model_convert_pipeline``
(on the CPU model), move to ``device``, :meth:`_before_optimizer` (e.g. SyncBatchNorm), build
the optimizer, resume from a checkpoint, :meth:`_wrap_model` (e.g. DDP).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from hat.data.dataloader import resumable_sampler_of, set_loader_epoch
from hat.engine.callback import EVENTS, overrides_event
from hat.engine.optimizer_builder import build_optimizer
from hat.engine.train_state import (
    ResumeState,
    expected_resume_paths,
    find_resume_checkpoint,
    restore_training_state,
)
from hat.registry import build_from_registry
from hat.utils.checkpoint import CheckpointError, load_checkpoint
from hat.utils.distributed import default_device, unwrap_model
from hat.utils.rng_state import set_rng_state

__all__ = ["LoopBase"]

logger = logging.getLogger(__name__)

_PROCESSOR_HOOKS = {
    "batch_begin_callback": "on_batch_begin",
    "batch_end_callback": "on_batch_end",
    "backward_begin_callback": "on_backward_begin",
    "backward_end_callback": "on_backward_end",
    "optimizer_step_begin_callback": "on_optimizer_step_begin",
    "forward_begin_callback": "on_forward_begin",
    "forward_end_callback": "on_forward_end",
}


class LoopBase:
    """Runs ``batch_processor`` over ``data_loader`` until ``stop_by`` says stop.

    Args:
        model: the model (``nn.Module``).
        data_loader: a built loader (any sized iterable of batches).
        optimizer: an optimizer config (builder), an optimizer, or None (prediction).
        batch_processor: callable, see :mod:`hat.engine.batch_processor`.
        device: None (``cuda:LOCAL_RANK`` if available, else CPU), an int GPU id or a string.
        stop_by: ``"epoch"`` (run ``num_epochs``) or ``"step"`` (run ``num_steps``).
        callbacks: callback objects, run in list order (None entries are ignored).
        train_metrics, val_metrics: built metric objects handed to callbacks.
        model_convert_pipeline: optional ``model -> model`` callable (a lazy config dict is
            built first), applied to the CPU model before anything else.
        resume_checkpoint: checkpoint to start from. Its weights are always loaded;
            ``resume_optimizer`` also restores optimizer (and grad scaler) state and
            ``resume_epoch_or_step`` restores epoch/step, sampler position, callback states and
            RNG states. With a resume flag but no path, the ``Checkpoint`` callback's ``last``
            file is used if it exists; ``"last"`` means that file and it must exist.
    """

    is_training = False

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable,
        batch_processor: Callable[..., Any],
        optimizer: Any = None,
        device: torch.device | str | int | None = None,
        stop_by: str = "epoch",
        num_epochs: int | None = None,
        num_steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
        train_metrics: Any = None,
        val_metrics: Any = None,
        model_convert_pipeline: Callable[[nn.Module], nn.Module] | dict | None = None,
        resume_checkpoint: str | None = None,
        resume_optimizer: bool = False,
        resume_epoch_or_step: bool = False,
    ) -> None:
        if stop_by not in ("epoch", "step"):
            raise ValueError(f"stop_by must be 'epoch' or 'step', got {stop_by!r}")
        if stop_by == "epoch" and not num_epochs:
            raise ValueError("stop_by='epoch' needs num_epochs >= 1")
        if stop_by == "step" and not num_steps:
            raise ValueError("stop_by='step' needs num_steps >= 1")
        if not callable(batch_processor):
            raise TypeError(f"batch_processor must be callable, got {batch_processor!r}")
        self.model = model
        self.data_loader = data_loader
        self.batch_processor = batch_processor
        self.optimizer = optimizer
        self.device = _as_device(device)
        self.stop_by = stop_by
        self.num_epochs = num_epochs
        self.num_steps = num_steps
        self.callbacks = [c for c in (callbacks or []) if c is not None]
        self.train_metrics = _as_list(train_metrics)
        self.val_metrics = _as_list(val_metrics)
        self.metrics = self.train_metrics if self.is_training else self.val_metrics
        self.model_convert_pipeline = model_convert_pipeline
        self.resume_checkpoint = resume_checkpoint
        self.resume_optimizer = resume_optimizer
        self.resume_epoch_or_step = resume_epoch_or_step
        self.resumed_from: str | None = None  # the checkpoint this run resumed from
        self.epoch_id = 0
        self.step_id = 0
        self.global_step_id = 0
        self.steps_per_epoch = _length(data_loader)
        self.val_results: dict[str, float] = {}  # latest validation metrics (Validation sets it)
        self.val_results_step: int | None = None  # global step those results belong to
        self.in_epoch_end = False
        self.in_step_end = False
        self._resume: ResumeState | None = None
        self._handlers: dict[str, list[Callable[..., None]]] = {}
        self._processor_hooks: dict[str, Callable[..., None] | None] = {}
        self._prepared = False

    # ----------------------------------------------------------------------------- main loop
    def fit(self) -> None:
        """Prepare the model, then run epochs until the ``stop_by`` budget is spent."""
        self.prepare()
        with self._grad_mode():
            self._begin_loop()
            self.fire("on_loop_begin")
            while not self._budget_spent():
                self._run_epoch()
            self.check_finite_loss()
            self._end_loop()
            self.fire("on_loop_end")

    def check_finite_loss(self) -> None:
        """Raise if a step's loss was non-finite and not checked yet (see
        :mod:`hat.engine.finite_checks`; on CUDA the check of a step lags behind it)."""
        check = getattr(self.batch_processor, "check_finite_loss", None)
        if check is not None:
            check()

    def _begin_loop(self) -> None:
        """Hook for subclasses: runs right before ``on_loop_begin`` fires."""

    def _end_loop(self) -> None:
        """Hook for subclasses: runs right before ``on_loop_end`` fires."""

    def _run_epoch(self) -> None:
        resume = self._take_resume_state()  # only the first epoch of a resumed run has one
        set_loader_epoch(self.data_loader, self.epoch_id)
        batches = self._skip_consumed(resume)
        self._set_model_mode()
        if resume is not None and resume.epoch_finished:
            self._apply_rng(resume)  # saved at an epoch end: this epoch begins as it would have
        self.fire("on_epoch_begin")
        if resume is not None and not resume.epoch_finished:
            self._apply_rng(resume)  # saved mid-epoch: continue right before the next batch
        for batch in batches:
            self._run_step(batch)
            if self._budget_spent() and not self._at_epoch_end():
                return  # stopped mid-epoch: the epoch did not end
        self.in_epoch_end = True
        self.fire("on_epoch_end")
        self.in_epoch_end = False
        self.epoch_id += 1
        self.step_id = 0

    def _run_step(self, batch: Any) -> None:
        self.fire("on_step_begin", batch=batch)
        model_outs = self.batch_processor(
            self.global_step_id,
            batch,
            self.model,
            self.device,
            optimizer=self.optimizer,
            **self._processor_hooks,
        )
        loss = getattr(self.batch_processor, "last_loss", None)
        self.in_step_end = True
        self.fire("on_step_end", batch=batch, model_outs=model_outs, loss=loss)
        self.in_step_end = False
        self.step_id += 1
        self.global_step_id += 1

    # ----------------------------------------------------------------------------- events
    def fire(self, event: str, **extra: Any) -> None:
        """Call ``event`` on every callback that implements it, in list order."""
        handlers = self._handlers.get(event)
        if not handlers:
            return
        kwargs = self.event_state()
        kwargs.update(extra)
        for handler in handlers:
            handler(**kwargs)

    def event_state(self) -> dict[str, Any]:
        """The keyword arguments every event receives (see :mod:`hat.engine.callback`)."""
        return {
            "loop": self,
            "model": self.model,
            "optimizer": self.optimizer,
            "device": self.device,
            "epoch_id": self.epoch_id,
            "step_id": self.step_id,
            "global_step_id": self.global_step_id,
            "num_epochs": self.num_epochs,
            "num_steps": self.num_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "metrics": self.metrics,
            "train_metrics": self.train_metrics,
            "val_metrics": self.val_metrics,
        }

    def _bind_callbacks(self) -> None:
        self._handlers = {
            event: [getattr(c, event) for c in self.callbacks if overrides_event(c, event)]
            for event in EVENTS
        }
        self._processor_hooks = {
            arg: (partial(self.fire, event) if self._handlers[event] else None)
            for arg, event in _PROCESSOR_HOOKS.items()
        }

    # ----------------------------------------------------------------------------- setup
    def prepare(self) -> None:
        """Convert, place, build the optimizer, resume, wrap (once)."""
        if self._prepared:
            return
        self._prepared = True
        if self.model_convert_pipeline is not None:
            pipeline = self.model_convert_pipeline
            if isinstance(pipeline, dict):
                pipeline = build_from_registry(pipeline, path="model_convert_pipeline")
            self.model = pipeline(self.model)
        self.model.to(self.device)
        self._before_optimizer()
        self.optimizer = build_optimizer(self.optimizer, self.model)
        self._load_resume_checkpoint()
        self.model = self._wrap_model(self.model)
        self._bind_callbacks()

    def _before_optimizer(self) -> None:
        """Hook for subclasses: change the model before the optimizer sees its parameters."""

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        """Hook for subclasses: wrap the model (e.g. DistributedDataParallel)."""
        return model

    def _load_resume_checkpoint(self) -> None:
        path = self.resume_checkpoint
        if path == "last":  # asked for explicitly (tools/train.py --resume): must exist
            path = find_resume_checkpoint(self.callbacks)
            if path is None:
                where = expected_resume_paths(self.callbacks) or ["(no Checkpoint callback)"]
                raise CheckpointError(f"nothing to resume: no checkpoint at {', '.join(where)}")
        elif path is None and (self.resume_optimizer or self.resume_epoch_or_step):
            path = find_resume_checkpoint(self.callbacks)
            if path is None:
                logger.warning("resume requested but no checkpoint exists yet; starting fresh")
                return
        if path is None:
            return
        state = load_checkpoint(path)
        self.resumed_from = path
        self._resume = restore_training_state(
            self,
            state,
            path=path,
            optimizer=self.resume_optimizer,
            progress=self.resume_epoch_or_step,
        )

    def _grad_mode(self) -> Any:
        return torch.enable_grad() if self.is_training else torch.no_grad()

    def _set_model_mode(self) -> None:
        self.model.train(self.is_training)

    # ----------------------------------------------------------------------------- resume
    def _take_resume_state(self) -> ResumeState | None:
        resume, self._resume = self._resume, None
        return resume

    def _skip_consumed(self, resume: ResumeState | None) -> Iterable:
        """The loader, positioned after the samples a resumed epoch already consumed."""
        if resume is None or resume.epoch_finished or resume.consumed_samples == 0:
            return self.data_loader
        sampler = resumable_sampler_of(self.data_loader)
        batch_size = getattr(self.data_loader, "batch_size", None)
        if sampler is not None and batch_size:
            sampler.skip_samples(resume.consumed_samples)
            return self.data_loader
        logger.warning(
            "the data loader has no resumable sampler (or no fixed batch_size): replaying %d "
            "batches to reach the resume position",
            resume.steps_in_epoch,
        )
        iterator = iter(self.data_loader)
        for _ in range(resume.steps_in_epoch):
            next(iterator)
        return iterator

    def _apply_rng(self, resume: ResumeState) -> None:
        if resume.rng is not None:
            set_rng_state(resume.rng)

    # ----------------------------------------------------------------------------- budget
    def _budget_spent(self) -> bool:
        if self.stop_by == "epoch":
            return self.epoch_id >= self.num_epochs  # type: ignore[operator]
        return self.global_step_id >= self.num_steps  # type: ignore[operator]

    def _at_epoch_end(self) -> bool:
        return self.steps_per_epoch is not None and self.step_id >= self.steps_per_epoch

    def steps_done_in_epoch(self) -> int:
        """Steps of the current epoch already run (counts the step whose end is firing)."""
        return self.step_id + (1 if self.in_step_end else 0)

    def global_steps_done(self) -> int:
        """Steps run in total (counts the step whose end is firing)."""
        return self.global_step_id + (1 if self.in_step_end else 0)

    @property
    def total_steps(self) -> int | None:
        """Steps of the whole run (None when the loader has no length)."""
        if self.stop_by == "step":
            return self.num_steps
        if self.steps_per_epoch is None:
            return None
        return self.num_epochs * self.steps_per_epoch  # type: ignore[operator]

    @property
    def raw_model(self) -> nn.Module:
        """The model without a DDP wrapper."""
        return unwrap_model(self.model)


def _as_device(device: torch.device | str | int | None) -> torch.device:
    if device is None:
        return default_device()
    if isinstance(device, int):
        return torch.device("cuda", device)
    return torch.device(device)


def _as_list(metrics: Any) -> list[Any]:
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        return list(metrics.values())
    if isinstance(metrics, (list, tuple)):
        return list(metrics)
    return [metrics]


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
