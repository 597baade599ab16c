"""``LabelRemap``: raw label ids -> training ids by a lookup table (numpy or tensors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hat.data.cityscapes_labels import CITYSCAPES_LABEL_MAPPINGS, IGNORE_INDEX
from hat.registry import OBJECT_REGISTRY

__all__ = ["LabelRemap"]


@OBJECT_REGISTRY.register
class LabelRemap:
    """``gt_seg = mapping[gt_seg]``; works on a sample or a batch, on any device.

    Args:
        mapping: ``mapping[i]`` is the new id of label ``i`` (default: Cityscapes labelId ->
            train id). Negative entries (HAT writes -1) become ``ignore_index``.
        ignore_index: the id of ignored pixels; input values outside ``[0, len(mapping))``
            (e.g. a fill value of 255) also map to it.
        key: the label key.

    Integer labels keep their dtype (uint8 stays uint8: train ids and 255 fit); float labels
    become int64.
    """

    def __init__(
        self,
        mapping: Sequence[int] = CITYSCAPES_LABEL_MAPPINGS,
        ignore_index: int = IGNORE_INDEX,
        key: str = "gt_seg",
    ) -> None:
        if isinstance(mapping, (str, bytes)) or not isinstance(mapping, Sequence):
            raise TypeError(f"LabelRemap: mapping must be a sequence of ints, got {mapping!r}")
        table = [int(v) for v in mapping]
        if not table:
            raise ValueError("LabelRemap: mapping is empty")
        self.ignore_index = int(ignore_index)
        # one extra entry: where out-of-range inputs are sent
        self.lut = np.array(
            [v if v >= 0 else self.ignore_index for v in table] + [self.ignore_index], np.int64
        )
        self.key = key
        self._luts: dict[tuple[torch.device, torch.dtype, bool], torch.Tensor] = {}

    def _lut(self, device: torch.device, dtype: torch.dtype, full: bool = False) -> torch.Tensor:
        """The table on ``device``; ``full``: 256 entries (every uint8 value)."""
        k = (device, dtype, full)
        if k not in self._luts:
            table = self._table256() if full else self.lut
            self._luts[k] = torch.as_tensor(table).to(device=device, dtype=dtype)
        return self._luts[k]

    def _table256(self) -> np.ndarray:
        n = len(self.lut) - 1
        full = np.full(256, self.ignore_index, np.int64)
        full[: min(n, 256)] = self.lut[: min(n, 256)]
        return full

    def remap(self, label: Any) -> Any:
        """Remap one label array/tensor (or a list of them)."""
        n = len(self.lut) - 1
        if isinstance(label, (list, tuple)):
            return type(label)(self.remap(x) for x in label)
        if isinstance(label, torch.Tensor):
            dtype = label.dtype if not label.is_floating_point() else torch.int64
            if label.dtype == torch.uint8:  # fast path: one gather from a 256-entry table
                return self._lut(label.device, dtype, full=True)[label.long()]
            idx = label.long()
            idx = torch.where((idx >= 0) & (idx < n), idx, n)
            return self._lut(label.device, dtype)[idx]
        arr = np.asarray(label)
        dtype = arr.dtype if arr.dtype.kind in "iu" else np.dtype(np.int64)
        if arr.dtype == np.uint8:  # fast path: a 256-entry table
            return self._table256().astype(dtype)[arr]
        idx = arr.astype(np.int64)
        idx = np.where((idx >= 0) & (idx < n), idx, n)
        return self.lut.astype(dtype)[idx]

    def __call__(self, sample: dict) -> dict:
        out = dict(sample)
        out[self.key] = self.remap(sample[self.key])
        return out

    def __repr__(self) -> str:
        return f"LabelRemap(mapping={self.lut[:-1].tolist()}, ignore_index={self.ignore_index})"
