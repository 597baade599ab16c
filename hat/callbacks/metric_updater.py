"""Feed metrics from each batch and log them.

``metric_update_func(metrics, batch, model_outs)`` is called at every ``on_batch_end``. Step logs
show this rank's running values (no cross-rank sync, so they cost nothing on other ranks and
cannot deadlock on uneven shards); epoch logs show values synchronised over all ranks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from hat.engine.callback import CallbackMixin
from hat.registry import OBJECT_REGISTRY

__all__ = ["MetricUpdater", "format_metrics"]

logger = logging.getLogger(__name__)

_RESET_MODES = ("epoch", "step", "log")


@OBJECT_REGISTRY.register
class MetricUpdater(CallbackMixin):
    """Update ``metrics`` with every batch; log every ``step_log_freq`` steps and epochs.

    Args:
        metric_update_func: ``update_fn(metrics, batch, model_outs)``.
        metrics: metric objects; default: the loop's own (``train_metrics`` for trainers, the
            predictor's ``metrics`` in validation).
        filter_condition: optional ``batch -> bool``; batches where it is False are skipped.
        step_log_freq: log every that many steps (0: never).
        reset_metrics_by: ``"epoch"`` (reset at each epoch begin), ``"step"`` (after every
            step) or ``"log"`` (after each step log).
        epoch_log_freq: log synchronised values every that many epochs (0: never).
        log_prefix: text in front of the logged values.
    """

    def __init__(
        self,
        metric_update_func: Callable[[Sequence[Any], Any, Any], None],
        metrics: Sequence[Any] | None = None,
        filter_condition: Callable[[Any], bool] | None = None,
        step_log_freq: int = 1,
        reset_metrics_by: str = "epoch",
        epoch_log_freq: int = 1,
        log_prefix: str = "",
    ) -> None:
        if reset_metrics_by not in _RESET_MODES:
            raise ValueError(
                f"reset_metrics_by must be one of {_RESET_MODES}, got {reset_metrics_by!r}"
            )
        self.metric_update_func = metric_update_func
        self.metrics = list(metrics) if metrics is not None else None
        self.filter_condition = filter_condition
        self.step_log_freq = step_log_freq
        self.reset_metrics_by = reset_metrics_by
        self.epoch_log_freq = epoch_log_freq
        self.log_prefix = log_prefix

    def _metrics(self, kwargs: dict[str, Any]) -> list[Any]:
        return self.metrics if self.metrics is not None else list(kwargs.get("metrics") or [])

    def on_epoch_begin(self, **kwargs: Any) -> None:
        if self.reset_metrics_by == "epoch":
            for metric in self._metrics(kwargs):
                metric.reset()

    def on_batch_end(self, batch: Any = None, model_outs: Any = None, **kwargs: Any) -> None:
        if self.filter_condition is not None and not self.filter_condition(batch):
            return
        self.metric_update_func(self._metrics(kwargs), batch, model_outs)

    def on_step_end(self, epoch_id: int = 0, step_id: int = 0, **kwargs: Any) -> None:
        metrics = self._metrics(kwargs)
        logged = False
        if self.step_log_freq and (step_id + 1) % self.step_log_freq == 0:
            values = {}
            for metric in metrics:
                values.update(_local_values(metric))
            where = f"Epoch[{epoch_id + 1}] Step[{step_id + 1}]"
            logger.info("%s %s %s", self.log_prefix, where, format_metrics(values))
            logged = True
        if self.reset_metrics_by == "step" or (self.reset_metrics_by == "log" and logged):
            for metric in metrics:
                metric.reset()

    def on_epoch_end(self, epoch_id: int = 0, loop: Any = None, **kwargs: Any) -> None:
        if not self.epoch_log_freq or (epoch_id + 1) % self.epoch_log_freq:
            return
        values = {}
        for metric in self._metrics(kwargs):
            values.update(metric.get_dict())  # synchronised: every rank calls this
        training = getattr(loop, "is_training", True)
        where = f" Epoch[{epoch_id + 1}]" if training else ""  # a predictor's pass has no epoch
        logger.info("%s%s %s", self.log_prefix, where, format_metrics(values))


def _local_values(metric: Any) -> dict[str, float]:
    """This rank's values (``compute`` on local states, no all-reduce)."""
    names, values = metric.name, metric.compute()
    if isinstance(names, (list, tuple)):
        return {str(n): float(v) for n, v in zip(names, values)}
    return {str(names): float(values)}


def format_metrics(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.6g}" for k, v in values.items())
