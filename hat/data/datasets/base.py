"""Bases of every dataset: transforms on a loaded item, and LMDB of msgpack records with a codec.

A dataset of raw files subclasses :class:`SampleDataset` and implements ``_load(idx)``. A dataset
packed by a :mod:`hat.data.packers` packer subclasses :class:`LmdbRecordDataset` and implements
``_decode_record(value, idx, where, copy)``, turning one msgpack record (decoded straight from the
memory map) into the dataset item through its codec.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch.utils.data as tud

from hat.data.datasets.lmdb_item import read_lmdb_item
from hat.data.memory import tune_malloc
from hat.data.pack_type.lmdb import LmdbReader, index_key
from hat.data.transforms.compose import build_transforms

__all__ = ["LmdbRecordDataset", "SampleDataset", "Transforms"]

Transforms = Callable[[Any], Any] | Sequence[Any] | None


class SampleDataset(tud.Dataset):
    """Transforms applied to ``_load(idx)``, and allocator tuning on the first item per process.

    Args:
        data_path: where the samples are read from.
        transforms: a callable, a list of callables (applied in order) or None.
        to_rgb: images in RGB order (else BGR).
    """

    def __init__(self, data_path: str, transforms: Transforms, to_rgb: bool) -> None:
        self.data_path = os.fspath(data_path)
        self.transforms = build_transforms(transforms)
        self.to_rgb = to_rgb

    def __getitem__(self, idx: int) -> dict:
        tune_malloc()  # once per process (a DataLoader worker is a process): see hat.data.memory
        item = self._load(idx)
        return self.transforms(item) if self.transforms is not None else item

    def _load(self, idx: int) -> dict:
        """The item of index ``idx`` before transforms."""
        raise NotImplementedError

    def _repr_source(self) -> str:
        """What besides ``data_path`` selects the samples, as ``"name=value, "`` (or "")."""
        return ""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(data_path={self.data_path!r}, {self._repr_source()}"
            f"len={len(self)}, transforms={self.transforms!r})"
        )


class LmdbRecordDataset(SampleDataset):
    """An LMDB of msgpack records (one per sample) read through a codec.

    Each item is decoded straight from the memory map with one copy of each array (none, when
    the first transform is ``ToTensor``: see :mod:`hat.data.datasets.lmdb_item`).

    Args:
        data_path: the LMDB directory (e.g. ``tmp_data/FlyingChairs/train_lmdb``).
        transforms: a callable, a list of callables (applied in order) or None.
        to_rgb: images in RGB order (else BGR).
    """

    def __init__(self, data_path: str, transforms: Transforms = None, to_rgb: bool = True) -> None:
        super().__init__(data_path, transforms, to_rgb)
        self.reader = LmdbReader(self.data_path)
        self._len = len(self.reader)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, idx: int) -> dict:
        tune_malloc()
        idx = self._index(idx)
        return read_lmdb_item(self.reader, idx, partial(self._decode, idx), self.transforms)

    def _load(self, idx: int) -> dict:
        idx = self._index(idx)
        with self.reader.view(idx) as value:
            return self._decode(idx, value, copy=True)

    def _index(self, idx: int) -> int:
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"{self.data_path}: index {idx} out of range for {len(self)} samples")
        return idx

    def _decode(self, idx: int, value: Any, copy: bool) -> dict:
        where = f"{self.data_path} key {index_key(idx)!r}"
        return self._decode_record(value, idx, where, copy)

    def _decode_record(self, value: Any, idx: int, where: str, copy: bool) -> dict:
        """The dataset item of record ``value`` (index ``idx``); ``where`` names it in errors,
        ``copy=False`` lets its arrays be read-only views of ``value``'s buffers."""
        raise NotImplementedError
