"""Tiny deterministic model, dataset, metric and test callbacks for the engine tests.

Loaded only through the test configs (``from .toy_components import ...``); nothing here is
registered, configs use the classes themselves as ``type``.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from hat.engine.callback import CallbackMixin
from hat.metrics.metric import EvalMetric


class ToyDataset(Dataset):
    """``{"x": (dim,), "y": scalar, "index": i}`` from a fixed linear problem."""

    def __init__(self, size: int = 48, dim: int = 8, seed: int = 0) -> None:
        w = torch.randn(dim, generator=torch.Generator().manual_seed(1234))
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, dim, generator=g)
        self.y = self.x @ w + 0.1 * torch.randn(size, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": self.x[i], "y": self.y[i], "index": i}


class ToyModel(nn.Module):
    """MLP regressor; training returns ``{"losses": {"mse": ...}, "pred": ...}``."""

    def __init__(self, in_dim: int = 8, hidden: int = 16, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def forward(self, data: dict[str, torch.Tensor]) -> Any:
        pred = self.net(data["x"]).squeeze(-1)
        if self.training:
            return {"losses": {"mse": F.mse_loss(pred, data["y"])}, "pred": pred}
        return pred


class MSEMetric(EvalMetric):
    def __init__(self, name: str = "mse") -> None:
        super().__init__(name)
        self.add_state("sq_sum", torch.tensor(0.0, dtype=torch.float64))
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64))

    def update(self, target: torch.Tensor, preds: torch.Tensor) -> None:
        self.sq_sum += ((preds.double() - target.double()) ** 2).sum()
        self.count += target.numel()

    def compute(self) -> float:
        return float(self.sq_sum / self.count.clamp(min=1))


def update_val_metric(metrics: list, batch: dict, model_outs: Any) -> None:
    for metric in metrics:
        metric.update(batch["y"], model_outs)


def update_loss_metric(metrics: list, batch: dict, model_outs: Any) -> None:
    for metric in metrics:
        metric.update(model_outs["losses"])


def loss_collector(outputs: dict) -> Any:
    return outputs["losses"]


class LossRecorder(CallbackMixin):
    """Appends ``{"step", "loss", "indices"}`` per step to ``path`` (rank 0; loss averaged and
    indices gathered over ranks)."""

    def __init__(self, path: str = "") -> None:
        self.path = path

    def on_step_end(self, global_step_id: int = 0, batch: Any = None, loss: Any = None, **kw):
        if not self.path:
            return
        loss = loss.detach().clone()
        indices = sorted(batch["index"].tolist())
        if dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(loss)
            loss /= dist.get_world_size()
            gathered: list = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, indices)
            indices = sorted(i for part in gathered for i in part)
        if not dist.is_initialized() or dist.get_rank() == 0:
            record = {"step": global_step_id, "loss": loss.item(), "indices": indices}
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


class KillAtStep(CallbackMixin):
    """SIGKILL this process when global step ``step`` begins (-1: never)."""

    def __init__(self, step: int = -1) -> None:
        self.step = step

    def on_step_begin(self, global_step_id: int = 0, **kwargs: Any) -> None:
        if global_step_id == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class KillDuringSave(CallbackMixin):
    """SIGKILL this process at the ``index``-th checkpoint file write of the run (counting from
    loop begin): ``when="before_replace"`` after the temp file is complete but before its rename
    (an orphan temp file stays), ``"after_replace"`` right after the rename (e.g. between
    ``best`` and ``last``). -1: never. Fault injection at the ``os.replace`` boundary."""

    def __init__(self, index: int = -1, when: str = "before_replace") -> None:
        if when not in ("before_replace", "after_replace"):
            raise ValueError(f"when must be before_replace or after_replace, got {when!r}")
        self.index = index
        self.when = when

    def on_loop_begin(self, **kwargs: Any) -> None:
        if self.index < 0:
            return
        real_replace = os.replace
        count = [0]
        index, when = self.index, self.when

        def replace(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
            if not str(dst).endswith(".pth.tar"):
                return real_replace(src, dst, *args, **kw)
            n = count[0]
            count[0] += 1
            if n == index and when == "before_replace":
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst, *args, **kw)
            if n == index and when == "after_replace":
                os.kill(os.getpid(), signal.SIGKILL)

        os.replace = replace


class FailWritesFromStep(CallbackMixin):
    """From global step ``step`` on, every ``fsync`` fails with ``OSError(errno_code)`` (e.g.
    ENOSPC: the disk is full). -1: never. Fault injection at the ``os.fsync`` boundary."""

    def __init__(self, step: int = -1, errno_code: int = 28) -> None:
        self.step = step
        self.errno_code = errno_code

    def on_step_begin(self, global_step_id: int = 0, **kwargs: Any) -> None:
        if global_step_id != self.step:
            return
        code = self.errno_code

        def fsync(fd: int) -> None:
            raise OSError(code, os.strerror(code))

        os.fsync = fsync


class PoisonLoss(CallbackMixin):
    """Multiply the loss of the listed global steps by ``value`` (NaN or inf)."""

    def __init__(self, steps: Any = (), value: float = float("nan")) -> None:
        self.steps = set(steps)
        self.value = value

    def on_forward_end(self, loop: Any = None, model_outs: Any = None, **kwargs: Any) -> None:
        if loop is not None and loop.global_step_id in self.steps and loop.is_training:
            losses = model_outs["losses"]
            for key in losses:
                losses[key] = losses[key] * self.value
