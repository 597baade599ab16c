"""``Calibrator``: run ``num_steps`` forward passes in CALIBRATION state.

Self-contained for now (the engine's LoopBase is being written in parallel). It follows the
engine contract of docs/design.md: ``batch_processor(step_id, batch, model, device)`` returns
the model outputs, callbacks get keyword-only ``on_loop_begin/end``, ``on_epoch_begin/end``,
``on_step_begin/end``, ``on_batch_begin/end``. Folding it onto ``LoopBase`` later means: the
loop body stays the same, with ``need_grad_update=False``, ``model.eval()`` (BN in eval mode)
and ``torch.no_grad()``; ``set_fake_quantize(CALIBRATION)`` in ``on_loop_begin`` and
``VALIDATION`` in ``on_loop_end``; stop after ``num_steps``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from hat.quantization.fake_quantize import FakeQuantState, set_fake_quantize
from hat.quantization.prepare import is_prepared
from hat.registry import OBJECT_REGISTRY

__all__ = ["Calibrator", "default_batch_processor", "to_device"]

logger = logging.getLogger(__name__)


def to_device(batch: Any, device: torch.device | None) -> Any:
    """Move tensors in nested dicts/lists/tuples to ``device``."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def default_batch_processor(
    step_id: int, batch: Any, model: nn.Module, device: torch.device | None = None, **kwargs: Any
) -> Any:
    """``model(batch)`` with the batch on ``device`` (dict batches are passed as one dict)."""
    return model(to_device(batch, device))


def _resolve_device(device: Any) -> torch.device | None:
    if device is None:
        return None
    if isinstance(device, int):
        return torch.device("cuda", device) if device >= 0 else torch.device("cpu")
    return torch.device(device)


@OBJECT_REGISTRY.register
class Calibrator:
    """Calibrate a prepared (or, through ``model_convert_pipeline``, a float) model.

    Args:
        model: the model (prepared for quantization, or float plus a pipeline that prepares it).
        data_loader: iterable of batches (re-iterated if it has fewer than ``num_steps``).
        batch_processor: ``f(step_id, batch, model, device) -> outputs``
            (default :func:`default_batch_processor`).
        num_steps: number of forward passes.
        device: ``None`` (leave the model where it is), an int GPU id (<0: CPU) or a device.
        callbacks: objects with optional ``on_*`` methods taking keyword arguments.
        model_convert_pipeline: applied to ``model`` at the start of :meth:`fit`.
        save_dir: when given, the calibrated model is written at the end as
            ``{save_dir}/{name_prefix}checkpoint-last.pth.tar`` and ``...-best.pth.tar`` (same
            content layout as the Checkpoint callback: ``state_dict``, ``epoch``, ``step``,
            ``config``, ``meta``), so ``LoadCheckpoint`` / ``tools/predict.py`` find it.
        name_prefix: file name prefix (default ``"{stage}-"``, i.e. ``calibration-``).
    """

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable[Any],
        batch_processor: Callable[..., Any] | None = None,
        num_steps: int = 100,
        device: Any = None,
        callbacks: Sequence[Any] | None = None,
        model_convert_pipeline: Callable[[nn.Module], nn.Module] | None = None,
        log_interval: int = 0,
        save_dir: str | None = None,
        name_prefix: str = "",
    ) -> None:
        if num_steps <= 0:
            raise ValueError(f"num_steps must be positive, got {num_steps}")
        self.model = model
        self.data_loader = data_loader
        self.batch_processor = batch_processor or default_batch_processor
        self.num_steps = int(num_steps)
        self.device = _resolve_device(device)
        self.callbacks = list(callbacks or [])
        self.model_convert_pipeline = model_convert_pipeline
        self.log_interval = log_interval
        self.save_dir = save_dir
        self.name_prefix = name_prefix
        self.checkpoint_paths: list[str] = []

    def _cb(self, event: str, **kwargs: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, event, None)
            if fn is not None:
                fn(**kwargs)

    def fit(self) -> nn.Module:
        model = self.model
        if self.model_convert_pipeline is not None:
            model = self.model_convert_pipeline(model)
        if not is_prepared(model):
            raise RuntimeError(
                "Calibrator: model is not prepared for quantization (give a "
                "model_convert_pipeline with Float2Calibration)"
            )
        if self.device is not None:
            model.to(self.device)
        model.eval()
        set_fake_quantize(model, FakeQuantState.CALIBRATION)
        self.model = model
        self._cb("on_loop_begin", model=model, loop=self, num_steps=self.num_steps)
        self._cb("on_epoch_begin", model=model, epoch_id=0)
        step = 0
        with torch.no_grad():
            while step < self.num_steps:
                seen = 0
                for batch in self.data_loader:
                    seen += 1
                    self._cb("on_step_begin", model=model, step_id=step, batch=batch)
                    self._cb("on_batch_begin", model=model, step_id=step, batch=batch)
                    outs = self.batch_processor(step, batch, model, self.device)
                    self._cb(
                        "on_batch_end", model=model, step_id=step, batch=batch, model_outs=outs
                    )
                    self._cb("on_step_end", model=model, step_id=step, batch=batch, model_outs=outs)
                    if self.log_interval and (step + 1) % self.log_interval == 0:
                        logger.info("calibration step %d/%d", step + 1, self.num_steps)
                    step += 1
                    if step >= self.num_steps:
                        break
                if seen == 0:
                    raise RuntimeError("Calibrator: the data loader yielded no batches")
        self._cb("on_epoch_end", model=model, epoch_id=0)
        set_fake_quantize(model, FakeQuantState.VALIDATION)
        self._cb("on_loop_end", model=model, loop=self, num_steps=step)
        if self.save_dir:
            self._save(model, step)
        return model

    def _save(self, model: nn.Module, steps: int) -> None:
        import time

        from hat.utils.checkpoint import checkpoint_path, save_checkpoint
        from hat.utils.distributed import is_main_process, unwrap_model
        from hat.utils.file_io import atomic_copy
        from hat.utils.run_context import current_stage, get_run_context

        if not is_main_process():
            return
        prefix = self.name_prefix or f"{current_stage()}-"
        context = get_run_context()
        state = {
            "state_dict": {
                k: v.detach().cpu() for k, v in unwrap_model(model).state_dict().items()
            },
            "optimizer": None,
            "epoch": 0,
            "step": steps,
            "config": context.config_text,
            "config_source": context.config_source,
            "meta": {"stage": current_stage(), "time": time.time(), "calibration_steps": steps},
        }
        last = checkpoint_path(self.save_dir, prefix, "last")
        best = checkpoint_path(self.save_dir, prefix, "best")
        os.makedirs(self.save_dir, exist_ok=True)
        save_checkpoint(state, last)
        atomic_copy(last, best)
        self.checkpoint_paths = [last, best]
        logger.info("calibration checkpoint written: %s, %s", last, best)
