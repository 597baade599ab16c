"""Chaining transforms."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hat.registry import OBJECT_REGISTRY, build_from_registry

__all__ = ["Compose", "build_transforms"]

Transform = Callable[[Any], Any]


@OBJECT_REGISTRY.register
class Compose:
    """Apply ``transforms`` in order: ``sample = t(sample)``.

    Items may be built callables or config dicts (``dict(type=...)``), which are built here.
    An item with a ``for_pipeline(later)`` method (``ToTensor``) is replaced by what it returns
    for the transforms that follow it (e.g. float32 images before a bilinear warp).
    """

    def __init__(self, transforms: Sequence[Transform | dict]) -> None:
        self.transforms: list[Transform] = []
        for i, t in enumerate(transforms):
            if isinstance(t, dict):
                t = build_from_registry(t, path=f"transforms[{i}]")
            if not callable(t):
                raise TypeError(f"transforms[{i}] is not callable: {t!r}")
            self.transforms.append(t)
        for i, t in enumerate(self.transforms):
            if hasattr(t, "for_pipeline"):
                self.transforms[i] = t.for_pipeline(self.transforms[i + 1 :])

    def __call__(self, sample: Any) -> Any:
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


def build_transforms(
    transforms: Transform | dict | Sequence[Transform | dict] | None,
) -> Transform | None:
    """``None`` -> ``None`` (identity); a list -> :class:`Compose`; a callable -> itself."""
    if transforms is None:
        return None
    if isinstance(transforms, (list, tuple)):
        return Compose(transforms)
    if isinstance(transforms, dict):
        return Compose([transforms])
    if callable(transforms):
        return transforms
    raise TypeError(
        f"transforms must be a callable, a list of callables or None, got {transforms!r}"
    )
