"""EfficientNet B0-B7 (Tan & Le 2019) returning multi-scale features, as HAT's ``efficientnet``."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from hat.models.backbones.mbconv import MBConvBlock
from hat.models.layers import clone_act
from hat.models.weight_init import kaiming_init_convs
from hat.nn import ConvModule2d, DeQuantStub, QuantStub
from hat.registry import OBJECT_REGISTRY

__all__ = [
    "EFFICIENTNET_BLOCKS",
    "EFFICIENTNET_COEFFICIENTS",
    "BlockArgs",
    "EfficientNet",
    "round_filters",
    "round_repeats",
]


@dataclass(frozen=True)
class BlockArgs:
    """One group of MBConv blocks of the B0 table (before width/depth scaling)."""

    kernel_size: int
    num_repeat: int
    in_filters: int
    out_filters: int
    expand_ratio: int
    strides: int
    se_ratio: float = 0.25
    id_skip: bool = True


#: EfficientNet-B0's seven MBConv groups (the paper's Table 1; the stem is a 3x3 stride-2 conv
#: to 32 channels, the head a 1x1 conv to 1280).
EFFICIENTNET_BLOCKS: tuple[BlockArgs, ...] = (
    BlockArgs(3, 1, 32, 16, 1, 1),
    BlockArgs(3, 2, 16, 24, 6, 2),
    BlockArgs(5, 2, 24, 40, 6, 2),
    BlockArgs(3, 3, 40, 80, 6, 2),
    BlockArgs(5, 3, 80, 112, 6, 1),
    BlockArgs(5, 4, 112, 192, 6, 2),
    BlockArgs(3, 1, 192, 320, 6, 1),
)

#: ``model_type -> (width, depth, resolution, dropout)`` (the reference implementations' table).
EFFICIENTNET_COEFFICIENTS: dict[str, tuple[float, float, int, float]] = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}

_ACTIVATIONS = {"relu": nn.ReLU, "swish": nn.SiLU}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """``filters * width`` rounded to the nearest multiple of ``divisor`` (at least
    ``divisor``), rounded up once more if that lost over 10 % (the reference rule)."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(repeats: int, depth: float) -> int:
    """``ceil(repeats * depth)``."""
    return int(math.ceil(depth * repeats))


@OBJECT_REGISTRY.register
@OBJECT_REGISTRY.alias("efficientnet")
class EfficientNet(nn.Module):
    """EfficientNet with the paper's compound scaling (``model_type`` b0..b7).

    Args:
        model_type: ``"b0"`` .. ``"b7"``: width and depth coefficients (channels rounded to
            multiples of 8, repeats rounded up).
        num_classes: classifier outputs (with ``include_top``).
        bn_kwargs: BatchNorm arguments (default: the reference's ``momentum=0.01, eps=1e-3``).
        include_top: 1x1 head conv (1280 x width) + BN + act, then, after a ``DeQuantStub``
            (float), global average pooling, dropout and a 1x1 conv classifier with bias
            (ImageNet pretraining; the integer ONNX exporter has no float pooling, so deployed
            models use ``include_top=False`` as the seeds do).
        activation: ``"relu"`` (quantizable) or ``"swish"`` (the paper's; float only, the
            quantized convs fuse ReLU only).
        use_se_block: squeeze-excitation in every block (ratio 0.25 of the block input; float
            only: global average pooling has no quantized module).
        in_channels: input channels (3 for images; HAT's BEV encoder takes 64-channel features).
        drop_connect_rate: stochastic depth of the residual branches, growing linearly with
            the block index up to this rate (float training only).
        flat_output: with ``include_top``, logits ``(B, num_classes)``, else ``(B, C, 1, 1)``.
        input_scale: fixed scale of the input ``QuantStub`` (``1/128`` for images normalised as
            ``(x - 128) / 128``; an input that is already quantized passes through).

    ``forward(x)``: without top, the features before every stride-2 group and after the last
    block, finest first (HAT's outputs): strides ``[2, 4, 8, 16, 32]`` with channels
    ``round_filters([16, 24, 40, 112, 320])`` (``out_channels``; B0: 16, 24, 40, 112, 320;
    B3: 24, 32, 48, 136, 384); with top, the logits.

    Parameters (224 x 224, 1000 classes): B0 with SE, swish and top 5,288,548 and B3
    12,233,232 (the reference PyTorch counts); without SE and top (the BEV/MOTR variant)
    B0 2,958,848 and B3 8,223,608 (``activation`` adds no parameters).
    """

    def __init__(
        self,
        model_type: str,
        num_classes: int = 1000,
        bn_kwargs: dict | None = None,
        include_top: bool = True,
        activation: str = "relu",
        use_se_block: bool = False,
        in_channels: int = 3,
        drop_connect_rate: float | None = None,
        flat_output: bool = True,
        input_scale: float | None = 1.0 / 128,
    ) -> None:
        super().__init__()
        if model_type not in EFFICIENTNET_COEFFICIENTS:
            raise ValueError(
                f"efficientnet: model_type must be one of {sorted(EFFICIENTNET_COEFFICIENTS)}, "
                f"got {model_type!r}"
            )
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"efficientnet: activation must be one of {sorted(_ACTIVATIONS)}, "
                f"got {activation!r}"
            )
        if include_top and num_classes <= 0:
            raise ValueError("efficientnet: include_top needs num_classes > 0")
        rate = float(drop_connect_rate or 0.0)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"efficientnet: drop_connect_rate must be in [0, 1), got {rate}")
        width, depth, _, dropout = EFFICIENTNET_COEFFICIENTS[model_type]
        self.model_type = model_type
        self.include_top = include_top
        self.flat_output = flat_output
        self.num_classes = num_classes
        bn = dict(bn_kwargs) if bn_kwargs is not None else {"momentum": 0.01, "eps": 1e-3}
        act = _ACTIVATIONS[activation]()

        self.quant = QuantStub(scale=input_scale)
        stem = round_filters(32, width)
        self.stem = ConvModule2d(
            in_channels, stem, 3, stride=2, bias=False, norm_layer=nn.BatchNorm2d(stem, **bn),
            act_layer=clone_act(act),
        )  # fmt: skip
        groups = [
            replace(
                g,
                in_filters=round_filters(g.in_filters, width),
                out_filters=round_filters(g.out_filters, width),
                num_repeat=round_repeats(g.num_repeat, depth),
            )
            for g in EFFICIENTNET_BLOCKS
        ]
        total = sum(g.num_repeat for g in groups)
        blocks: list[MBConvBlock] = []
        # a feature is returned before each stride-2 group and after the last block
        self._out_after: list[int] = []
        for g in groups:
            if g.strides == 2 and blocks:
                self._out_after.append(len(blocks) - 1)
            for i in range(g.num_repeat):
                blocks.append(
                    MBConvBlock(
                        g.in_filters if i == 0 else g.out_filters,
                        g.out_filters,
                        g.kernel_size,
                        g.strides if i == 0 else 1,
                        g.expand_ratio,
                        act,
                        se_ratio=g.se_ratio if use_se_block else None,
                        bn_kwargs=bn,
                        id_skip=g.id_skip,
                        drop_connect_rate=rate * len(blocks) / total,
                    )
                )
        self._out_after.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = [blocks[i].project.conv.out_channels for i in self._out_after]
        self.out_strides = [2, 4, 8, 16, 32]
        if include_top:
            c_in, head = groups[-1].out_filters, round_filters(1280, width)
            self.head = ConvModule2d(
                c_in, head, 1, bias=False, norm_layer=nn.BatchNorm2d(head, **bn),
                act_layer=clone_act(act),
            )  # fmt: skip
            self.dequant = DeQuantStub()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(dropout)
            self.classifier = nn.Conv2d(head, num_classes, 1)
        kaiming_init_convs(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        x = self.stem(self.quant(x))
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self._out_after:
                feats.append(x)
        if not self.include_top:
            return feats
        y = self.classifier(self.dropout(self.pool(self.dequant(self.head(x)))))
        return y.flatten(1) if self.flat_output else y

    def fuse_model(self) -> None:
        """Conv-BN(-ReLU) fusion happens in :func:`hat.quantization.prepare_qat`."""

    def set_qconfig(self) -> None:
        """The classifier top (after the DeQuantStub) stays float."""
        if self.include_top:
            self.pool.qconfig = None
            self.classifier.qconfig = None
