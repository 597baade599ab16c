"""Count a model's multiply-accumulates (MACs) per module and its parameters.

MACs follow the convention of HAT's calops, fvcore and thop: one multiply-add counts once.
Counted: convolutions, linear layers and matmuls (``torch.utils.flop_counter``) and the
correlation cost volume of ``hat.nn.Correlation`` (``B * (2md+1)^2 * C * H * W`` MACs, counted
by hooks: its float kernel's banded matmuls compute extra products that are not part of the
operation). Not counted: element-wise ops (BN, activations, adds), resizes and grid_sample
warps.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import nn

__all__ = ["count_ops", "count_call_macs", "param_counts"]


def _correlation_hooks(model: nn.Module, macs: dict[str, int]) -> list[Any]:
    from hat.nn import Correlation

    root = type(model).__name__
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, Correlation):
            fqn = f"{root}.{name}" if name else root

            def hook(m: nn.Module, args: tuple, out: torch.Tensor, fqn: str = fqn) -> None:
                b, c, h, w = args[0].shape
                macs[fqn] += b * out.shape[1] * c * h * w

            handles.append(mod.register_forward_hook(hook))
    return handles


def count_ops(model: nn.Module, inputs: Any) -> dict[str, int]:
    """MACs of ``model(inputs)`` per module path (``"<RootClass>.sub.module"``); ``"Global"``
    is the total.

    A module's count is the sum over its leaf modules (so methods such as ``upsample`` that
    call submodules outside ``forward`` are attributed correctly); ops run outside any leaf
    module appear only in ``"Global"``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    corr_macs: dict[str, int] = defaultdict(int)
    handles = _correlation_hooks(model, corr_macs)
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    # flop_counter counts 2 per multiply-add
    counted = {name: sum(ops.values()) // 2 for name, ops in counter.get_flop_counts().items()}
    names = list(param_counts(model))
    children: dict[str, list[str]] = defaultdict(list)
    for name in names:
        if "." in name:
            children[name.rsplit(".", 1)[0]].append(name)
    macs: dict[str, int] = {}
    for name in reversed(names):  # children before parents
        if name in corr_macs:
            macs[name] = corr_macs[name]
        elif children[name]:
            macs[name] = sum(macs[c] for c in children[name])
        else:
            macs[name] = counted.get(name, 0)
    # the correlation's own matmuls (banded, so they include skipped products) are replaced by
    # its exact multiply-accumulate count
    inside_corr = sum(counted.get(fqn, 0) for fqn in corr_macs)
    macs["Global"] = counted.get("Global", 0) - inside_corr + sum(corr_macs.values())
    return macs


def count_call_macs(module: nn.Module, *args: Any) -> int:
    """Total MACs of one call ``module(*args)`` (same convention as :func:`count_ops`)."""

    class _Call(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, a: tuple) -> Any:
            return self.inner(*a)

    was_training = module.training
    try:
        return int(count_ops(_Call(), args)["Global"])
    finally:
        module.train(was_training)


def param_counts(model: nn.Module) -> dict[str, int]:
    """Parameters per module path (``"<RootClass>.sub.module"``), parents before children."""
    root = type(model).__name__
    return {
        (f"{root}.{n}" if n else root): sum(p.numel() for p in m.parameters())
        for n, m in model.named_modules()
    }
