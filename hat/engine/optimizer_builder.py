"""Optimizer configs: ``dict(type=torch.optim.X, params={...}, **kwargs)`` builds once the model
exists.

The registry's build hook for ``torch.optim.Optimizer`` returns an :class:`OptimizerBuilder`;
the trainer calls it with the (prepared, not yet DDP-wrapped) model.

``params`` maps *name substrings* to param-group options, e.g.
``params={"weight": dict(weight_decay=4e-4)}``. Each trainable parameter goes to the group of
the **first key (in dict order) contained in its name**; a parameter matching no key goes to the
default group, which uses only the optimizer's top-level kwargs. Inside a group the group's
options override the top-level kwargs (``lr``, ``weight_decay``, ...). Parameters with
``requires_grad=False`` are skipped; empty groups are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hat.registry import OBJECT_REGISTRY
from hat.utils.distributed import unwrap_model

__all__ = ["OptimizerBuilder", "param_groups", "build_optimizer"]


def param_groups(model: nn.Module, params: Mapping[str, Mapping[str, Any]] | None) -> list[dict]:
    """Param groups of ``model`` by name substring (see module docstring)."""
    named = [(n, p) for n, p in unwrap_model(model).named_parameters() if p.requires_grad]
    if not params:
        return [{"params": [p for _, p in named]}]
    groups: dict[str, list[torch.nn.Parameter]] = {key: [] for key in params}
    default: list[torch.nn.Parameter] = []
    for name, param in named:
        key = next((k for k in params if k in name), None)
        (groups[key] if key is not None else default).append(param)
    out = [dict(params[k], params=ps) for k, ps in groups.items() if ps]
    if default:
        out.append({"params": default})
    return out


class OptimizerBuilder:
    """``builder(model) -> optimizer``; made by the registry from an optimizer config."""

    def __init__(
        self,
        optimizer_cls: type[torch.optim.Optimizer],
        params: Mapping[str, Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        if params is not None and not isinstance(params, Mapping):
            raise TypeError(
                "params must map name substrings to param-group options, e.g. "
                f"{{'weight': dict(weight_decay=4e-4)}}; got {type(params).__name__}"
            )
        self.optimizer_cls = optimizer_cls
        self.params = params
        self.kwargs = kwargs

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        groups = param_groups(model, self.params)
        if not any(g["params"] for g in groups):
            raise ValueError("the model has no trainable parameters for the optimizer")
        return self.optimizer_cls(groups, **self.kwargs)

    def __repr__(self) -> str:
        name = self.optimizer_cls.__name__
        return f"OptimizerBuilder({name}, params={self.params}, {self.kwargs})"


def build_optimizer(optimizer: Any, model: nn.Module) -> torch.optim.Optimizer | None:
    """An optimizer from a builder, an optimizer object or None (prediction)."""
    if optimizer is None or isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(model)
    raise TypeError(
        f"optimizer must be a config dict, a builder or an Optimizer, got {optimizer!r}"
    )


def _optimizer_build_hook(target: type[torch.optim.Optimizer], **kwargs: Any) -> OptimizerBuilder:
    return OptimizerBuilder(target, **kwargs)


OBJECT_REGISTRY.register_build_hook(torch.optim.Optimizer, _optimizer_build_hook)
