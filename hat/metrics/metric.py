"""Base class of every metric: summable states, reset, DDP-aware ``get``."""

from __future__ import annotations

import torch
import torch.distributed as dist


class EvalMetric:
    """A metric accumulated from per-batch ``update`` calls.

    Subclasses declare summable states with :meth:`add_state` in ``__init__``, add to them in
    ``update`` and turn them into numbers in ``compute``. :meth:`get` sums the states over all
    DDP ranks first, so a metric always describes the whole split, not one rank's share;
    states named in :attr:`MAX_STATES` are maxima, reduced with MAX instead of summed.
    """

    MAX_STATES: tuple[str, ...] = ()

    def __init__(self, name: str | list[str]) -> None:
        self.name = name
        self._defaults: dict[str, torch.Tensor] = {}

    def add_state(self, name: str, default: torch.Tensor) -> None:
        """Declare a state that is summed across ranks (float64 recommended for sums)."""
        self._defaults[name] = default.clone()
        setattr(self, name, default.clone())

    def reset(self) -> None:
        for name, default in self._defaults.items():
            setattr(self, name, default.clone())

    def update(self, *args, **kwargs) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self) -> float | list[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _synced_states(self) -> dict[str, torch.Tensor]:
        """Copies of the states reduced over all DDP ranks (the local ones without DDP)."""
        states = {n: getattr(self, n).detach().clone() for n in self._defaults}
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # NCCL reduces CUDA tensors only; gloo takes CPU tensors.
            device = (
                torch.device("cuda", torch.cuda.current_device())
                if dist.get_backend() == "nccl"
                else torch.device("cpu")
            )
            for name, t in states.items():
                moved = t.to(device)
                op = dist.ReduceOp.MAX if name in self.MAX_STATES else dist.ReduceOp.SUM
                dist.all_reduce(moved, op=op)
                states[name] = moved.to(t.device)
        return states

    def get(self) -> tuple[str | list[str], float | list[float]]:
        """``(name, value)`` over everything seen on all ranks since the last reset."""
        local = {n: getattr(self, n) for n in self._defaults}
        synced = self._synced_states()
        for n, t in synced.items():
            setattr(self, n, t)
        try:
            value = self.compute()
        finally:
            for n, t in local.items():
                setattr(self, n, t)
        return self.name, value

    def get_dict(self) -> dict[str, float]:
        """The metric as ``{name: value}`` (several names for multi-valued metrics)."""
        names, values = self.get()
        if isinstance(names, (list, tuple)):
            return {str(n): float(v) for n, v in zip(names, values)}
        return {str(names): float(values)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
