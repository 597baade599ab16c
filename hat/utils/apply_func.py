"""Apply a function to every leaf of nested dicts/lists/tuples (batches, model outputs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["apply_to_collection", "to_device", "iter_tensors", "sum_tensors", "first_tensor"]


def apply_to_collection(data: Any, dtype: type | tuple[type, ...], fn: Callable[[Any], Any]) -> Any:
    """``data`` with ``fn`` applied to every leaf of type ``dtype``; containers are copied."""
    if isinstance(data, dtype):
        return fn(data)
    if isinstance(data, dict):
        return type(data)((k, apply_to_collection(v, dtype, fn)) for k, v in data.items())
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(apply_to_collection(v, dtype, fn) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(apply_to_collection(v, dtype, fn) for v in data)
    return data


def to_device(data: Any, device: torch.device | str | None, non_blocking: bool = True) -> Any:
    """Move every tensor in ``data`` to ``device`` (no-op for tensors already there)."""
    if device is None:
        return data
    device = torch.device(device)
    return apply_to_collection(
        data, torch.Tensor, lambda t: t.to(device, non_blocking=non_blocking)
    )


def iter_tensors(data: Any) -> Iterator[torch.Tensor]:
    """Yield every tensor found in nested dicts/lists/tuples, in order."""
    if isinstance(data, torch.Tensor):
        yield data
    elif isinstance(data, dict):
        for v in data.values():
            yield from iter_tensors(v)
    elif isinstance(data, (list, tuple)):
        for v in data:
            yield from iter_tensors(v)


def sum_tensors(data: Any) -> torch.Tensor:
    """Sum every tensor in a tensor/list/dict of (scalar) tensors; raises if there is none."""
    total = None
    for t in iter_tensors(data):
        t = t.sum() if t.dim() else t
        total = t if total is None else total + t
    if total is None:
        raise ValueError(f"expected a tensor, or a list/dict of tensors, got {type(data).__name__}")
    return total


def first_tensor(data: Any) -> torch.Tensor | None:
    """The first tensor in ``data`` (used to read a batch size), or None."""
    return next(iter_tensors(data), None)
