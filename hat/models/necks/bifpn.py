"""``BiFPN``: EfficientDet's bidirectional feature pyramid (Tan et al. 2020), HAT's layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from hat.nn import Add, AddReLU, ConvModule2d, Interpolate
from hat.registry import OBJECT_REGISTRY

__all__ = ["BiFPN", "BiFPNLayer", "BIFPN_NODES"]

#: The 8 nodes of one 5-level BiFPN layer: ``(level, [(input offset, sampling), ...])``.
#: Offsets 0-4 are the layer's inputs (finest first); node ``i`` is appended as offset
#: ``5 + i``. Top-down: levels 3, 2, 1, 0; bottom-up: levels 1, 2, 3, 4. The layer's outputs
#: are offsets 8-12 (levels 0-4).
BIFPN_NODES: tuple[tuple[int, tuple[tuple[int, str], ...]], ...] = (
    (3, ((3, "keep"), (4, "up"))),
    (2, ((2, "keep"), (5, "up"))),
    (1, ((1, "keep"), (6, "up"))),
    (0, ((0, "keep"), (7, "up"))),
    (1, ((1, "keep"), (7, "keep"), (8, "down"))),
    (2, ((2, "keep"), (6, "keep"), (9, "down"))),
    (3, ((3, "keep"), (5, "keep"), (10, "down"))),
    (4, ((4, "keep"), (11, "down"))),
)
NUM_LEVELS = 5
_FPN_NAMES = ("bifpn_sum",)
_UPSAMPLE_MODES = ("bilinear", "nearest")


def _lateral(in_channels: int, out_channels: int, bn_kwargs: dict) -> ConvModule2d | None:
    """1x1 conv + BN when the channel count changes, else nothing."""
    if in_channels == out_channels:
        return None
    return ConvModule2d(
        in_channels, out_channels, 1, bias=False,
        norm_layer=nn.BatchNorm2d(out_channels, **bn_kwargs),
    )  # fmt: skip


class _Resample(nn.Module):
    """One node input: optional lateral 1x1 conv + BN, then ``keep``, ``up`` (resize to the
    node's size) or ``down`` (2x2 max pooling, stride 2, ``ceil_mode`` so odd sizes follow the
    backbone's stride-2 convs)."""

    def __init__(
        self, sampling: str, in_channels: int, out_channels: int, bn_kwargs: dict, mode: str
    ) -> None:
        super().__init__()
        self.sampling = sampling
        self.lateral = _lateral(in_channels, out_channels, bn_kwargs)
        if sampling == "up":
            self.resize = Interpolate(mode=mode, align_corners=False)
        elif sampling == "down":
            self.resize = nn.MaxPool2d(2, 2, ceil_mode=True)
        else:
            self.resize = None

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.lateral is not None:
            x = self.lateral(x)
        if self.sampling == "up":
            return self.resize(x, size=size)
        if self.sampling == "down":
            return self.resize(x)
        return x


class _Node(nn.Module):
    """``pw(dw(relu(sum(inputs))))``: the sum of the resampled inputs (unweighted,
    ``bifpn_sum``), the ReLU fused into the last add (``AddReLU``), a 3x3 depthwise conv and a
    1x1 conv + BN (linear)."""

    def __init__(
        self,
        level: int,
        inputs: Sequence[tuple[int, str]],
        offset_channels: Sequence[int],
        channels: int,
        bn_kwargs: dict,
        mode: str,
    ) -> None:
        super().__init__()
        self.level = level
        self.offsets = [o for o, _ in inputs]
        self.resample = nn.ModuleList(
            _Resample(s, offset_channels[o], channels, bn_kwargs, mode) for o, s in inputs
        )
        self.adds = nn.ModuleList(Add() for _ in range(len(inputs) - 2))
        self.add_relu = AddReLU()
        self.dw = ConvModule2d(channels, channels, 3, groups=channels, bias=False)
        self.pw = ConvModule2d(
            channels, channels, 1, bias=False, norm_layer=nn.BatchNorm2d(channels, **bn_kwargs)
        )

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        size = tuple(feats[self.offsets[0]].shape[-2:])  # the first input is at the node's level
        xs = [r(feats[o], size) for r, o in zip(self.resample, self.offsets)]
        for x in xs[1:]:
            if tuple(x.shape[-2:]) != size:
                raise ValueError(
                    f"BiFPN: level {self.level} node inputs have sizes "
                    f"{[tuple(t.shape[-2:]) for t in xs]}; each level must be half the size "
                    "of the previous one (rounded up)"
                )
        s = xs[0]
        for add, x in zip(self.adds, xs[1:-1]):
            s = add(s, x)
        return self.pw(self.dw(self.add_relu(s, xs[-1])))


class BiFPNLayer(nn.Module):
    """One 5-level BiFPN layer (:data:`BIFPN_NODES`): ``in_channels`` of its 5 inputs,
    ``out_channels`` of its 5 outputs (finest first)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        bn_kwargs: dict,
        upsample_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        offset_channels = list(in_channels)
        nodes = []
        for level, inputs in BIFPN_NODES:
            nodes.append(
                _Node(level, inputs, offset_channels, out_channels[level], bn_kwargs,
                      upsample_mode)
            )  # fmt: skip
            offset_channels.append(out_channels[level])
        self.nodes = nn.ModuleList(nodes)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        x = list(feats)
        for node in self.nodes:
            x.append(node(x))
        return x[-NUM_LEVELS:]


@OBJECT_REGISTRY.register
class BiFPN(nn.Module):
    """BiFPN over backbone features at ``in_strides``, stacked ``stack`` times (HAT's neck).

    Args:
        in_strides: strides of the backbone features given to ``forward`` (finest first).
        out_strides: strides of the returned features (a subset of the pyramid's strides).
        stride2channels: backbone channels per stride.
        out_channels: channels of every pyramid level (int) or per stride (dict).
        num_outs: pyramid levels (5: the layer's node graph is fixed).
        stack: number of BiFPN layers.
        start_level, end_level: the backbone features used (``end_level`` exclusive, -1: to
            the last); missing coarse levels are made by 1x1 conv + BN + 2x2 max pooling.
        fpn_name: ``"bifpn_sum"``: inputs are summed without learned weights.
        bn_kwargs: BatchNorm arguments.
        upsample_mode: ``"bilinear"`` (HAT; an ORT float Resize island when quantized) or
            ``"nearest"`` (integer Resize).

    Each node sums its resampled inputs (a 1x1 conv + BN where the channel count changes,
    bilinear x2 up / 2x2 max-pool down), rectifies the sum and applies a depthwise 3x3 conv and
    a 1x1 conv + BN. Weights: normal(0, 0.01). Unlike HAT's, the 1x1 convs before BN have no
    bias (BN's shift makes it redundant).

    ``forward(feats)``: the features at ``out_strides``, finest first.
    """

    def __init__(
        self,
        in_strides: Sequence[int],
        out_strides: Sequence[int],
        stride2channels: Mapping[int, int],
        out_channels: int | Mapping[int, int],
        num_outs: int = NUM_LEVELS,
        stack: int = 3,
        start_level: int = 0,
        end_level: int = -1,
        fpn_name: str = "bifpn_sum",
        bn_kwargs: dict | None = None,
        upsample_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        if fpn_name not in _FPN_NAMES:
            raise ValueError(f"BiFPN: fpn_name must be one of {_FPN_NAMES}, got {fpn_name!r}")
        if upsample_mode not in _UPSAMPLE_MODES:
            raise ValueError(
                f"BiFPN: upsample_mode must be one of {_UPSAMPLE_MODES}, got {upsample_mode!r}"
            )
        if num_outs != NUM_LEVELS:
            raise ValueError(f"BiFPN: num_outs must be {NUM_LEVELS} (fixed node graph)")
        if stack < 1:
            raise ValueError(f"BiFPN: stack must be >= 1, got {stack}")
        missing = [s for s in in_strides if s not in stride2channels]
        if missing:
            raise ValueError(f"BiFPN: stride2channels has no entry for in_strides {missing}")
        self.in_strides = [int(s) for s in in_strides]
        self.num_ins = len(self.in_strides)
        end = self.num_ins if end_level == -1 else int(end_level)
        if not 0 <= start_level < end <= self.num_ins:
            raise ValueError(
                f"BiFPN: need 0 <= start_level < end_level <= {self.num_ins}, got "
                f"start_level={start_level}, end_level={end_level}"
            )
        used = end - start_level
        if used > NUM_LEVELS:
            raise ValueError(f"BiFPN: {used} backbone levels used, at most {NUM_LEVELS}")
        self.start_level, self.end_level = int(start_level), end
        strides = self.in_strides[start_level:end]
        strides += [strides[-1] * 2 ** (i + 1) for i in range(NUM_LEVELS - used)]
        self.pyramid_strides = strides
        if isinstance(out_channels, Mapping):
            absent = [s for s in strides if s not in out_channels]
            if absent:
                raise ValueError(f"BiFPN: out_channels has no entry for strides {absent}")
            level_channels = [int(out_channels[s]) for s in strides]
        else:
            level_channels = [int(out_channels)] * NUM_LEVELS
        bad = [s for s in out_strides if s not in strides]
        if bad:
            raise ValueError(f"BiFPN: out_strides {bad} not among the pyramid strides {strides}")
        self.out_strides = [int(s) for s in out_strides]
        self.out_index = [strides.index(s) for s in self.out_strides]
        self.out_channels = [level_channels[i] for i in self.out_index]
        bn = dict(bn_kwargs or {})
        in_channels = [int(stride2channels[s]) for s in self.in_strides[start_level:end]]
        self.extra_downsamples = nn.ModuleList()
        for i in range(NUM_LEVELS - used):
            c = level_channels[used + i]
            self.extra_downsamples.append(_Resample("down", in_channels[-1], c, bn, upsample_mode))
            in_channels.append(c)
        self.layers = nn.ModuleList(
            BiFPNLayer(in_channels if i == 0 else level_channels, level_channels, bn,
                       upsample_mode)
            for i in range(stack)
        )  # fmt: skip
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        feats = list(feats)
        if len(feats) != self.num_ins:
            raise ValueError(
                f"BiFPN: expected {self.num_ins} features (in_strides {self.in_strides}), "
                f"got {len(feats)}"
            )
        x = feats[self.start_level : self.end_level]
        for down in self.extra_downsamples:
            x.append(down(x[-1], None))
        for layer in self.layers:
            x = layer(x)
        return [x[i] for i in self.out_index]

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""
