"""Model outputs in the order (and with the names) of the exported ONNX graph's outputs.

One rule for every tool: tensors are taken depth-first; a dict's values in insertion order,
named by their key (``"key"`` at the top level, ``"outer.key"`` below); list/tuple items in
order, named ``"<parent>_<index>"``; a bare tensor is ``"output"``. Other values (None,
numbers, strings) are not outputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

__all__ = ["named_outputs", "output_tensors", "outputs_like"]

_ROOT = "output"


def named_outputs(outputs: Any, prefix: str = _ROOT) -> list[tuple[str, torch.Tensor]]:
    """``[(onnx output name, tensor), ...]`` of a model's outputs (see module doc)."""
    if isinstance(outputs, torch.Tensor):
        return [(prefix, outputs)]
    if isinstance(outputs, Mapping):
        res = []
        for k, v in outputs.items():
            res.extend(named_outputs(v, str(k) if prefix == _ROOT else f"{prefix}.{k}"))
        return res
    if isinstance(outputs, Sequence) and not isinstance(outputs, (str, bytes)):
        res = []
        for i, v in enumerate(outputs):
            res.extend(named_outputs(v, f"{prefix}_{i}"))
        return res
    return []


def output_tensors(outputs: Any) -> list[torch.Tensor]:
    """The output tensors in ONNX output order."""
    return [t for _, t in named_outputs(outputs)]


def outputs_like(template: Any, tensors: Sequence[Any]) -> Any:
    """``tensors`` (in ONNX output order) arranged in ``template``'s structure: the inverse of
    :func:`output_tensors` (non-tensor leaves of ``template`` are kept as they are)."""
    it = iter(tensors)
    out = _rebuild(template, it)
    if next(it, None) is not None:
        raise ValueError(f"more outputs than the template holds ({len(tensors)} given)")
    return out


def _rebuild(template: Any, it: Iterator[Any]) -> Any:
    if isinstance(template, torch.Tensor):
        try:
            return next(it)
        except StopIteration:
            raise ValueError("fewer outputs than the template holds") from None
    if isinstance(template, Mapping):
        return {k: _rebuild(v, it) for k, v in template.items()}
    if isinstance(template, Sequence) and not isinstance(template, (str, bytes)):
        items = [_rebuild(v, it) for v in template]
        if isinstance(template, list):
            return items
        return type(template)(*items) if hasattr(template, "_fields") else type(template)(items)
    return template
