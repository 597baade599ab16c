"""Small layer factories shared by the models (conv-BN-act blocks, activation copies)."""

from __future__ import annotations

import copy

from torch import nn

from hat.nn import ConvModule2d

__all__ = ["clone_act", "conv_bn_act"]


def clone_act(act: nn.Module | None) -> nn.Module | None:
    """A fresh copy of an activation instance (configs pass one ``nn.ReLU()`` for every use)."""
    if act is None:
        return None
    if not isinstance(act, nn.Module):
        raise TypeError(f"act_type must be an nn.Module instance such as nn.ReLU(), got {act!r}")
    return copy.deepcopy(act)


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    act: nn.Module | None,
    use_bn: bool = True,
    bn_kwargs: dict | None = None,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
) -> ConvModule2d:
    """``ConvModule2d`` with optional ``BatchNorm2d(**bn_kwargs)`` and a copy of ``act``.

    The convolution has a bias only without BN (BN's shift makes it redundant).
    """
    norm = nn.BatchNorm2d(out_channels, **(bn_kwargs or {})) if use_bn else None
    return ConvModule2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        dilation=dilation,
        bias=not use_bn,
        norm_layer=norm,
        act_layer=clone_act(act),
    )
