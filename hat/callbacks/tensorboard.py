"""Write loss, learning rates and metrics to TensorBoard (rank 0)."""

from __future__ import annotations

from typing import Any

from hat.engine.callback import CallbackMixin
from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import is_main_process

__all__ = ["TensorBoard"]


@OBJECT_REGISTRY.register
class TensorBoard(CallbackMixin):
    """Scalars: ``train/loss`` and ``train/lr{i}`` every ``update_freq`` steps, epoch-end
    ``train/<metric>`` (synchronised train metrics) and ``val/<metric>`` after validations.

    ``SummaryWriter`` is imported when the first scalar is written (tensorboard is optional).
    """

    def __init__(self, save_dir: str, update_freq: int = 10, **writer_kwargs: Any) -> None:
        self.save_dir = save_dir
        self.update_freq = update_freq
        self.writer_kwargs = writer_kwargs
        self._writer: Any = None
        self._seen_val_step: int | None = None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=self.save_dir, **self.writer_kwargs)
        return self._writer

    def on_step_end(
        self, loop: Any = None, global_step_id: int = 0, loss: Any = None, optimizer: Any = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        step = global_step_id + 1
        if step % self.update_freq == 0 and is_main_process():
            if loss is not None:
                self.writer.add_scalar("train/loss", float(loss), step)
            for i, group in enumerate(optimizer.param_groups if optimizer is not None else []):
                self.writer.add_scalar(f"train/lr{i}", group["lr"], step)
        self._write_val(loop)

    def on_epoch_end(self, loop: Any = None, train_metrics: Any = None, **kwargs: Any) -> None:
        values: dict[str, float] = {}
        for metric in train_metrics or []:
            values.update(metric.get_dict())  # collective: every rank calls it
        if is_main_process():
            step = loop.global_steps_done()
            for name, value in values.items():
                self.writer.add_scalar(f"train/{name}", value, step)
        self._write_val(loop)

    def on_loop_end(self, loop: Any = None, **kwargs: Any) -> None:
        self._write_val(loop)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _write_val(self, loop: Any) -> None:
        step = getattr(loop, "val_results_step", None)
        if step is None or step == self._seen_val_step or not is_main_process():
            return
        self._seen_val_step = step
        for name, value in loop.val_results.items():
            self.writer.add_scalar(f"val/{name}", value, step)
