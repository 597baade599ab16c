"""Gradient clipping (``GradClip``) and HAT's ``GradScale`` (per-module scaling + clipping).

Both act in ``on_optimizer_step_begin``, after an AMP grad scaler has unscaled the gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hat.engine.callback import CallbackMixin
from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import unwrap_model

__all__ = ["GradClip", "GradScale"]


def _trainable(optimizer: Any) -> list[torch.Tensor]:
    return [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]


@OBJECT_REGISTRY.register
class GradClip(CallbackMixin):
    """Clip the total gradient norm of the optimizer's parameters to ``max_norm``."""

    def __init__(self, max_norm: float, norm_type: float = 2.0) -> None:
        self.max_norm = max_norm
        self.norm_type = norm_type

    def on_optimizer_step_begin(self, optimizer: Any = None, **kwargs: Any) -> None:
        params = _trainable(optimizer)
        if params:
            torch.nn.utils.clip_grad_norm_(params, self.max_norm, norm_type=self.norm_type)


@OBJECT_REGISTRY.register
class GradScale(CallbackMixin):
    """Multiply the gradients of named submodules, then optionally clip (HAT's ``GradScale``).

    Args:
        module_and_scale: ``[(submodule name, factor), ...]``; a name matches every submodule
            whose qualified name contains it.
        clip_grad_norm: clip the total norm to this value afterwards (None: no clipping).
        clip_norm_type: norm type for clipping.
    """

    def __init__(
        self,
        module_and_scale: Sequence[tuple[str, float]] = (),
        clip_grad_norm: float | None = None,
        clip_norm_type: float = 2.0,
    ) -> None:
        self.module_and_scale = [(str(n), float(s)) for n, s in module_and_scale]
        self.clip_grad_norm = clip_grad_norm
        self.clip_norm_type = clip_norm_type

    def on_optimizer_step_begin(
        self, model: nn.Module | None = None, optimizer: Any = None, **kwargs: Any
    ) -> None:
        if self.module_and_scale and model is not None:
            scaled: set[int] = set()
            for name, module in unwrap_model(model).named_modules():
                for key, factor in self.module_and_scale:
                    if key in name:
                        for p in module.parameters():
                            if p.grad is not None and id(p) not in scaled:
                                p.grad.mul_(factor)
                                scaled.add(id(p))
        if self.clip_grad_norm is not None:
            params = _trainable(optimizer)
            if params:
                torch.nn.utils.clip_grad_norm_(
                    params, self.clip_grad_norm, norm_type=self.clip_norm_type
                )
