"""``Calibrator``: the loop of the calibration stage (observers only, no gradients).

It is a :class:`~hat.engine.loop_base.LoopBase` like the trainers: the same device handling,
``model_convert_pipeline`` (applied in :meth:`~hat.engine.loop_base.LoopBase.prepare`), batch
processors and callback events with the same arguments. What it adds:

- one epoch of exactly ``num_steps`` steps (a shorter loader is iterated again; ``step_id`` and
  ``global_step_id`` run from 0 to ``num_steps - 1``);
- the model in eval mode (BatchNorm uses its running statistics) under ``torch.no_grad``, every
  ``FakeQuantize`` in ``CALIBRATION`` state from right before ``on_loop_begin``, switched to
  ``VALIDATION`` (weight scales refreshed) right before ``on_loop_end``;
- with ``observer_candidates``, the activation observer chosen by the model's output error:
  every candidate observes the ``num_steps`` batches in the one calibration pass (the
  activations are not fake-quantized while observed) and the candidate whose fake-quantized
  outputs are closest to the float ones on the first ``selection_batches`` batches is kept
  (see :mod:`hat.quantization.observer_selection`), before ``on_loop_end``;
- with ``save_dir``, a :class:`~hat.callbacks.checkpoint.Checkpoint` callback that writes
  ``{prefix}checkpoint-last.pth.tar`` and ``...-best.pth.tar`` once, at the loop end, in the
  checkpoint format of every other stage (see :mod:`hat.engine.train_state`).

No DDP wrapper: under a process group each rank calibrates on its shard and rank 0 writes the
checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from hat.engine.batch_processor import BasicBatchProcessor
from hat.engine.loop_base import LoopBase
from hat.quantization.fake_quantize import FakeQuantize, FakeQuantState, set_fake_quantize
from hat.quantization.observer_selection import (
    ActivationState,
    CandidateObservers,
    activation_quantizers,
    candidate_label,
    check_candidates,
    output_error,
    recorded_buffers,
    restore_activation_state,
    restore_buffers,
)
from hat.quantization.prepare import is_prepared
from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import get_world_size, is_dist_initialized

__all__ = ["Calibrator", "CalibrationBatches"]

logger = logging.getLogger(__name__)


class CalibrationBatches:
    """Exactly ``num_steps`` batches of ``loader``, iterating it again when it is shorter.

    ``batch_size`` is the loader's. The loader's sampler epoch is never changed: every pass
    iterates the loader as it is.
    """

    def __init__(self, loader: Iterable[Any], num_steps: int) -> None:
        self.loader = loader
        self.num_steps = num_steps
        self.batch_size = getattr(loader, "batch_size", None)

    def __len__(self) -> int:
        return self.num_steps

    def __iter__(self) -> Iterator[Any]:
        produced = 0
        while produced < self.num_steps:
            passed = 0
            for batch in self.loader:
                passed += 1
                yield batch
                produced += 1
                if produced >= self.num_steps:
                    return
            if passed == 0:
                raise RuntimeError("Calibrator: the data loader yielded no batches")


@OBJECT_REGISTRY.register
class Calibrator(LoopBase):
    """Calibrate a prepared model (or a float model plus a pipeline that prepares it).

    Args:
        model: the model, prepared for quantization or float with ``model_convert_pipeline``
            ending in ``Float2Calibration``.
        data_loader: iterable of batches.
        batch_processor: default ``BasicBatchProcessor(need_grad_update=False)``.
        num_steps: forward passes.
        device: as for trainers: None is ``cuda:LOCAL_RANK`` when CUDA is available, else CPU;
            an int GPU id or a device string.
        callbacks: run in list order (the checkpoint writer, if any, runs last).
        model_convert_pipeline: ``model -> model`` (a lazy config dict is built first), applied
            to the CPU model in ``prepare``, as trainers do.
        log_interval: log progress every that many steps (0: no progress log).
        save_dir: where to write the calibration checkpoints (None: no checkpoint).
        name_prefix: checkpoint file prefix; ``""`` means ``"{stage}-"`` (``calibration-``).
        val_metrics: metric objects handed to callbacks (e.g. a ``Validation`` callback).
        observer_candidates: activation observers to choose from by output error, e.g.
            ``[dict(observer="min_max"), dict(observer="percentile", percentile=99.999)]``
            (None: the model's own observers, one pass).
        selection_batches: calibration batches the candidates are compared on.
    """

    is_training = False

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable[Any],
        batch_processor: Callable[..., Any] | None = None,
        num_steps: int = 100,
        device: torch.device | str | int | None = None,
        callbacks: Sequence[Any] | None = None,
        model_convert_pipeline: Callable[[nn.Module], nn.Module] | dict | None = None,
        log_interval: int = 0,
        save_dir: str | None = None,
        name_prefix: str = "",
        val_metrics: Any = None,
        observer_candidates: Sequence[dict[str, Any]] | None = None,
        selection_batches: int = 4,
    ) -> None:
        if not isinstance(num_steps, int) or num_steps <= 0:
            raise ValueError(f"Calibrator: num_steps must be a positive int, got {num_steps!r}")
        if not isinstance(selection_batches, int) or selection_batches <= 0:
            raise ValueError(
                f"Calibrator: selection_batches must be a positive int, got {selection_batches!r}"
            )
        self.observer_candidates = (
            check_candidates(observer_candidates) if observer_candidates is not None else None
        )
        self.selection_batches = selection_batches
        self.selection: dict[str, float] = {}  # candidate label -> output error (when chosen)
        self._candidate_observers: CandidateObservers | None = None
        self._source_loader = data_loader
        callbacks = [c for c in (callbacks or []) if c is not None]
        if log_interval:
            from hat.callbacks.stats_monitor import StatsMonitor

            callbacks.insert(0, StatsMonitor(log_freq=log_interval))
        if save_dir:
            from hat.callbacks.checkpoint import Checkpoint

            callbacks.append(
                Checkpoint(
                    save_dir=save_dir,
                    name_prefix=name_prefix,
                    interval_by=None,
                    save_on_train_end=True,
                    last_is_best=True,
                )
            )
        super().__init__(
            model=model,
            data_loader=CalibrationBatches(data_loader, num_steps),
            batch_processor=batch_processor or BasicBatchProcessor(need_grad_update=False),
            optimizer=None,
            device=device,
            stop_by="step",
            num_steps=num_steps,
            callbacks=callbacks,
            val_metrics=val_metrics,
            model_convert_pipeline=model_convert_pipeline,
        )
        self.save_dir = save_dir
        self.name_prefix = name_prefix

    def fit(self) -> nn.Module:
        """Run the ``num_steps`` calibration steps; returns the calibrated model."""
        try:
            super().fit()
        finally:  # a failed run leaves no hooks behind
            if self._candidate_observers is not None:
                self._candidate_observers.detach()
                self._candidate_observers = None
        return self.raw_model

    def _before_optimizer(self) -> None:
        if not is_prepared(self.model):
            raise RuntimeError(
                "Calibrator: model is not prepared for quantization (give a "
                "model_convert_pipeline with Float2Calibration)"
            )

    def _begin_loop(self) -> None:
        self.model.eval()
        if self.observer_candidates:
            self._candidate_observers = CandidateObservers(self.model, self.observer_candidates)
        set_fake_quantize(self.model, FakeQuantState.CALIBRATION)

    def _end_loop(self) -> None:
        observers, self._candidate_observers = self._candidate_observers, None
        if observers is not None:
            observers.detach()
            if observers.num_candidates > 1:
                self._select_observer(observers.states())
        set_fake_quantize(self.model, FakeQuantState.VALIDATION)

    # ----------------------------------------------------------------------------- selection
    def _forward(self, step: int, batch: Any) -> Any:
        return self.batch_processor(step, batch, self.model, self.device)

    def _select_observer(self, states: list[ActivationState]) -> None:
        """Compare the candidates' outputs (``states``: what each candidate observed in the
        calibration pass) with the float outputs and keep the closest (module doc)."""
        started = time.perf_counter()
        candidates = self.observer_candidates or []
        quantizers = [m for m in self.model.modules() if isinstance(m, FakeQuantize)]
        errors = torch.zeros(len(candidates), dtype=torch.float64)
        # weight scales refreshed once: the weights do not change between the forwards
        set_fake_quantize(self.model, FakeQuantState.VALIDATION)
        records = []  # what each candidate's forwards left in the modules' input scales
        batches = CalibrationBatches(self._source_loader, self.selection_batches)
        for step, batch in enumerate(batches):
            for fq in quantizers:  # the float model: nothing observed, nothing quantized
                fq.observe_enabled = fq.fake_quant_enabled = False
            reference = self._forward(step, batch)
            for i, state in enumerate(states):
                restore_activation_state(self.model, state, share_observed=True)
                for fq in quantizers:
                    fq.set_state(FakeQuantState.VALIDATION)
                errors[i] += output_error(self._forward(step, batch), reference)
                if step == self.selection_batches - 1:
                    records.append(recorded_buffers(self.model))
        errors /= self.selection_batches
        if is_dist_initialized() and get_world_size() > 1:
            errors = errors.to(self.device)
            torch.distributed.all_reduce(errors)  # every rank keeps the same candidate
            errors = errors.cpu() / get_world_size()
        best = int(torch.argmin(errors))
        restore_activation_state(self.model, states[best])
        restore_buffers(self.model, records[best])  # not the last candidate's input scales
        self.selection = {
            candidate_label(c): float(e) for c, e in zip(candidates, errors, strict=True)
        }
        logger.info(
            "Calibrator: activation observer %s chosen for %d quantizers by output error on %d "
            "batches (relative MSE: %s; %.1fs)",
            candidate_label(candidates[best]),
            len(activation_quantizers(self.model)),
            self.selection_batches,
            ", ".join(f"{k} {v:.4g}" for k, v in self.selection.items()),
            time.perf_counter() - started,
        )
