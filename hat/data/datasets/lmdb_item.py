"""One LMDB sample through its transforms with the fewest copies of its payload.

The value is decoded straight from the memory map (:meth:`~hat.data.pack_type.LmdbReader.view`:
no ``bin`` copied by msgpack). Then either:

- the pipeline starts with a transform that copies its input (``copies_input = True``, e.g.
  ``ToTensor``): it gets read-only views of the stored arrays inside the read transaction, and
  its output (e.g. the ``(C, H, W)`` layout) is the only copy made of the pixels;
- otherwise the codec copies each field once into writable arrays that own their memory, which
  the transforms may modify in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from hat.data.pack_type.lmdb import LmdbReader, index_key
from hat.data.transforms.compose import Compose

__all__ = ["read_lmdb_item", "split_copying_head"]

Decode = Callable[[Any, bool], dict]


def split_copying_head(transforms: Any) -> tuple[Callable | None, list[Callable]]:
    """``(head, tail)``: ``head`` the pipeline's first transform if it declares
    ``copies_input = True`` (else None), ``tail`` the transforms to run after it."""
    if transforms is None:
        return None, []
    steps = list(transforms.transforms) if type(transforms) is Compose else [transforms]
    if steps and getattr(steps[0], "copies_input", False) is True:
        return steps[0], steps[1:]
    return None, steps


def read_lmdb_item(reader: LmdbReader, idx: int, decode: Decode, transforms: Any) -> Any:
    """``transforms(decode(value, copy))`` for the value stored under ``idx``.

    ``decode(value, copy)`` builds the dataset item; with ``copy=False`` its arrays may be
    read-only views of ``value``'s buffers (only when the first transform copies its input).
    """
    head, tail = split_copying_head(transforms)
    with reader.view(idx) as value:
        if head is None:
            item = decode(value, True)
        else:
            item = head(decode(value, False))
            _check_nothing_borrowed(item, value, head, reader, idx)
    for t in tail:
        item = t(item)
    return item


def _check_nothing_borrowed(item: Any, value: Any, head: Any, reader: LmdbReader, idx: int) -> None:
    spans = [_span(mv) for mv in _memoryviews(value) if len(mv)]
    if not spans:
        return
    lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)  # slices of one LMDB value
    for key, obj in _arrays(item):
        ptr = obj.data_ptr() if isinstance(obj, torch.Tensor) else obj.ctypes.data
        if lo <= ptr < hi:
            raise RuntimeError(
                f"{head!r} returned {key!r} still pointing into the LMDB memory map "
                f"({reader.path} key {index_key(idx)!r}): a transform with copies_input=True "
                "must copy every array it returns"
            )


def _span(mv: memoryview) -> tuple[int, int]:
    start = np.frombuffer(mv, np.uint8).ctypes.data
    return start, start + len(mv)


def _memoryviews(value: Any) -> Iterator[memoryview]:
    if isinstance(value, memoryview):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _memoryviews(v)
    elif isinstance(value, list):
        for v in value:
            yield from _memoryviews(v)


def _arrays(item: Any, key: str = "") -> Iterator[tuple[str, np.ndarray | torch.Tensor]]:
    if isinstance(item, (np.ndarray, torch.Tensor)):
        yield key, item
    elif isinstance(item, dict):
        for k, v in item.items():
            yield from _arrays(v, str(k))
    elif isinstance(item, (list, tuple)):
        for v in item:
            yield from _arrays(v, key)
