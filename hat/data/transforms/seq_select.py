"""``RandomSelectOne``: apply one of several transforms (or pipelines), picked at random."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from hat.data.transforms.compose import build_transforms
from hat.registry import OBJECT_REGISTRY

__all__ = ["RandomSelectOne"]


@OBJECT_REGISTRY.register
class RandomSelectOne:
    """With probability ``p`` apply one of ``transforms``, picked with weights ``p_trans``
    (uniform by default); otherwise return the input unchanged (HAT's ``RandomSelectOne``).

    Items are callables, config dicts (``dict(type=...)``) or lists (run in order): e.g. MOTR's
    choice between a multi-scale resize and resize + crop + resize.
    """

    def __init__(
        self, transforms: Sequence[Any], p: float = 0.5, p_trans: Sequence[float] | None = None
    ) -> None:
        if not transforms:
            raise ValueError("RandomSelectOne: transforms is empty")
        self.transforms = [build_transforms(t) for t in transforms]
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomSelectOne: p must be a probability in [0, 1], got {p}")
        weights = [1.0] * len(self.transforms) if p_trans is None else [float(w) for w in p_trans]
        if len(weights) != len(self.transforms) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(
                f"RandomSelectOne: p_trans must be {len(self.transforms)} non-negative weights "
                f"with a positive sum, got {p_trans!r}"
            )
        self.p, self.p_trans = float(p), weights

    def __call__(self, data: Any) -> Any:
        if random.random() >= self.p:
            return data
        chosen = random.choices(range(len(self.transforms)), weights=self.p_trans, k=1)[0]
        return self.transforms[chosen](data)

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"RandomSelectOne([{inner}\n], p={self.p}, p_trans={self.p_trans})"
