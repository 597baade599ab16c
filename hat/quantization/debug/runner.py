"""Running a model on cached batches exactly as a config's predictor would.

A *runner* is ``run(model, batch) -> (batch_seen_by_metrics, model_outputs)``. The batch given
to it is never modified (runners work on a copy, since batch transforms may edit tensors in
place), so the float and the quantized model see identical inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import torch
from torch import nn

from hat.utils.apply_func import apply_to_collection, to_device

__all__ = ["Runner", "clone_batch", "take_batches", "model_runner", "batch_processor_runner"]

Runner = Callable[[nn.Module, Any], tuple[Any, Any]]


def clone_batch(batch: Any) -> Any:
    """A copy of ``batch`` whose tensors are new tensors (containers copied too)."""
    return apply_to_collection(batch, torch.Tensor, lambda t: t.clone())


def take_batches(loader: Iterable[Any], max_batches: int) -> list[Any]:
    """The first ``max_batches`` batches of ``loader`` (kept in memory)."""
    if max_batches <= 0:
        raise ValueError(f"max_batches must be positive, got {max_batches}")
    batches = list(islice(iter(loader), max_batches))
    if not batches:
        raise ValueError("the data loader yielded no batches")
    return batches


def model_runner(device: torch.device | str | None = None) -> Runner:
    """``model(batch)`` (``model(*batch)`` for a list/tuple), batch moved to ``device``."""

    def run(model: nn.Module, batch: Any) -> tuple[Any, Any]:
        b = to_device(clone_batch(batch), device)
        outs = model(*b) if isinstance(b, (list, tuple)) else model(b)
        return b, outs

    return run


def batch_processor_runner(
    batch_processor: Callable[..., Any], device: torch.device | str | None = None
) -> Runner:
    """Run a hat batch processor (``processor(step_id, batch, model, device, ...)``); the batch
    handed back is the one the processor's ``batch_end`` callback saw (after its batch
    transforms), which is what a ``MetricUpdater`` would update metrics with."""

    def run(model: nn.Module, batch: Any) -> tuple[Any, Any]:
        seen: dict[str, Any] = {}

        def on_end(batch: Any = None, model_outs: Any = None, **_: Any) -> None:
            seen["batch"] = batch

        outs = batch_processor(0, clone_batch(batch), model, device, batch_end_callback=on_end)
        return seen.get("batch", batch), outs

    return run
