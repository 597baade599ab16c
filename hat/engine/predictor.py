"""Prediction/evaluation loop: the model in eval mode under ``torch.no_grad``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader

from hat.data.dataloader import set_loader_epoch
from hat.engine.batch_processor import BasicBatchProcessor
from hat.engine.loop_base import LoopBase
from hat.registry import OBJECT_REGISTRY

__all__ = ["Predictor", "ChainedLoaders", "chain_loaders"]


@OBJECT_REGISTRY.register
class Predictor(LoopBase):
    """Runs ``model`` over ``data_loader`` ``num_epochs`` times (default once).

    Args:
        model, device, callbacks, model_convert_pipeline: as for trainers.
        data_loader: a loader, or a list of loaders run one after the other (HAT style).
        batch_processor: default ``BasicBatchProcessor(need_grad_update=False)``.
        metrics: metric objects (reset at the start of :meth:`fit`, given to callbacks as
            ``metrics`` and ``val_metrics``).
        checkpoint: weights to load after ``model_convert_pipeline`` (optional).
        log_interval: log progress every that many steps (0: no progress log).
    """

    is_training = False

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable | Sequence[Iterable],
        batch_processor: Callable[..., Any] | None = None,
        device: torch.device | str | int | None = None,
        num_epochs: int = 1,
        callbacks: Sequence[Any] | None = None,
        metrics: Any = None,
        model_convert_pipeline: Any = None,
        checkpoint: str | None = None,
        log_interval: int = 0,
    ) -> None:
        callbacks = [c for c in (callbacks or []) if c is not None]
        if log_interval:
            from hat.callbacks.stats_monitor import StatsMonitor

            callbacks.insert(0, StatsMonitor(log_freq=log_interval))
        super().__init__(
            model=model,
            data_loader=chain_loaders(data_loader),
            batch_processor=batch_processor or BasicBatchProcessor(need_grad_update=False),
            optimizer=None,
            device=device,
            stop_by="epoch",
            num_epochs=num_epochs,
            callbacks=callbacks,
            val_metrics=metrics,
            model_convert_pipeline=model_convert_pipeline,
            resume_checkpoint=checkpoint,
        )

    def fit(self) -> None:
        for metric in self.metrics:
            metric.reset()
        super().fit()

    def metric_results(self) -> dict[str, float]:
        """``{name: value}`` of every metric (synchronised over ranks: call on all ranks)."""
        results: dict[str, float] = {}
        for metric in self.metrics:
            results.update(metric.get_dict())
        return results


class ChainedLoaders:
    """Several data loaders iterated one after the other, as one sized iterable."""

    def __init__(self, loaders: Sequence[Iterable]) -> None:
        self.loaders = list(loaders)
        self.batch_size = getattr(self.loaders[0], "batch_size", None)

    def __iter__(self) -> Iterator[Any]:
        for loader in self.loaders:
            yield from loader

    def __len__(self) -> int:
        return sum(len(loader) for loader in self.loaders)  # type: ignore[arg-type]

    @property
    def dataset(self) -> ConcatDataset:
        return ConcatDataset([loader.dataset for loader in self.loaders])  # type: ignore[attr-defined]

    def set_epoch(self, epoch: int) -> None:
        for loader in self.loaders:
            set_loader_epoch(loader, epoch)


def chain_loaders(data_loader: Any) -> Any:
    """A list/tuple of loaders becomes one :class:`ChainedLoaders`; one loader stays as is."""
    if isinstance(data_loader, (list, tuple)):
        if len(data_loader) == 1:
            return data_loader[0]
        if data_loader and all(isinstance(d, DataLoader) for d in data_loader):
            return ChainedLoaders(data_loader)
    return data_loader
