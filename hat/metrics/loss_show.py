"""Running mean of the training losses, for logging (``LossShow``)."""

from __future__ import annotations

from typing import Any

import torch

from hat.metrics.metric import EvalMetric
from hat.registry import OBJECT_REGISTRY
from hat.utils.apply_func import iter_tensors

__all__ = ["LossShow"]


@OBJECT_REGISTRY.register
class LossShow(EvalMetric):
    """Mean of each loss since the last reset.

    ``update(losses)`` takes a tensor, a list of tensors (named ``{name}_0``, ``{name}_1``, ...)
    or a dict ``{loss name: tensor}`` (nested dicts give dotted names); non-scalar tensors are
    averaged. Sums stay on the loss's device (no sync per update); :meth:`get` syncs over ranks.

    Args:
        name: the metric name, and the loss name for a bare tensor.
        norm: report means (True) or sums (False).
    """

    def __init__(self, name: str = "loss", norm: bool = True) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        super().__init__(name)
        self.norm = norm

    @property
    def name(self) -> list[str]:  # type: ignore[override]
        """The loss names seen since the last reset (``[base name]`` before any update)."""
        return list(self._sums) or [self._base_name]

    @name.setter
    def name(self, value: str) -> None:
        self._base_name = str(value)

    def reset(self) -> None:
        self._sums = {}
        self._counts = {}

    def update(self, losses: Any) -> None:
        for key, value in self._named(losses):
            value = value.detach().float().mean()
            if key in self._sums:
                self._sums[key] = self._sums[key] + value
                self._counts[key] += 1
            else:
                self._sums[key] = value.clone()
                self._counts[key] = 1

    def _named(self, losses: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
        if isinstance(losses, torch.Tensor):
            return [(prefix or self._base_name, losses)]
        if isinstance(losses, dict):
            out: list[tuple[str, torch.Tensor]] = []
            for k, v in losses.items():
                out.extend(self._named(v, f"{prefix}.{k}" if prefix else str(k)))
            return out
        if isinstance(losses, (list, tuple)):
            base = prefix or self._base_name
            return [(f"{base}_{i}", t) for i, t in enumerate(iter_tensors(losses))]
        raise TypeError(f"LossShow.update: expected tensor/list/dict of losses, got {type(losses)}")

    def compute(self) -> list[float]:
        """This rank's values, in the order of :attr:`name`."""
        if not self._sums:
            return [float("nan")]
        return [float(s) / (self._counts[k] if self.norm else 1) for k, s in self._sums.items()]

    def get(self) -> tuple[list[str], list[float]]:
        """``(names, values)`` summed over all ranks (every rank must have the same names)."""
        names = list(self._sums)
        if not names:
            return [], []
        import torch.distributed as dist

        sums = torch.stack([self._sums[k].double() for k in names])
        counts = [self._counts[k] for k in names]
        counts = torch.tensor(counts, dtype=torch.float64, device=sums.device)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            packed = torch.cat([sums, counts])
            dist.all_reduce(packed)
            sums, counts = packed[: len(names)], packed[len(names) :]
        values = (sums / counts if self.norm else sums).tolist()
        return names, values

    def get_dict(self) -> dict[str, float]:
        names, values = self.get()
        return dict(zip(names, values))
