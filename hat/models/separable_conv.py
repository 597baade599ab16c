"""Depthwise-separable convolution block (MobileNet style) built from two ``ConvModule2d``."""

from __future__ import annotations

from torch import nn

from hat.nn import ConvModule2d
from hat.registry import OBJECT_REGISTRY

__all__ = ["SeparableConvModule2d", "make_act"]


def make_act(act_type: type[nn.Module] | nn.Module | None) -> nn.Module | None:
    """A fresh activation from a class (``nn.ReLU``, as HAT configs pass) or an instance."""
    if act_type is None:
        return None
    if isinstance(act_type, nn.Module):
        import copy

        return copy.deepcopy(act_type)
    if isinstance(act_type, type) and issubclass(act_type, nn.Module):
        return act_type()
    raise TypeError(f"act_type must be an nn.Module class or instance, got {act_type!r}")


@OBJECT_REGISTRY.register
class SeparableConvModule2d(nn.Sequential):
    """``pw(dw(x))``: a ``k x k`` depthwise ``ConvModule2d`` then a ``1 x 1`` pointwise one.

    Args:
        in_channels, out_channels, kernel_size, stride: of the block (the stride is the
            depthwise conv's).
        bn_kwargs: BatchNorm arguments; ``dw_norm`` / ``pw_norm`` switch each BN on.
        dw_act, pw_act: activation class or instance after each conv (None: linear).

    A conv followed by BN has no bias. Children are named ``dw`` and ``pw``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        bn_kwargs: dict | None = None,
        dw_norm: bool = True,
        pw_norm: bool = True,
        dw_act: type[nn.Module] | nn.Module | None = None,
        pw_act: type[nn.Module] | nn.Module | None = nn.ReLU,
    ) -> None:
        bn_kwargs = bn_kwargs or {}
        dw = ConvModule2d(
            in_channels,
            in_channels,
            kernel_size,
            stride=stride,
            groups=in_channels,
            bias=not dw_norm,
            norm_layer=nn.BatchNorm2d(in_channels, **bn_kwargs) if dw_norm else None,
            act_layer=make_act(dw_act),
        )
        pw = ConvModule2d(
            in_channels,
            out_channels,
            1,
            bias=not pw_norm,
            norm_layer=nn.BatchNorm2d(out_channels, **bn_kwargs) if pw_norm else None,
            act_layer=make_act(pw_act),
        )
        super().__init__()
        self.add_module("dw", dw)
        self.add_module("pw", pw)

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""
