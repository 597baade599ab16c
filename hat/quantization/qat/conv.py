"""QAT convolutions: ``ConvModule2d`` with BN folded (``qat_mode="fuse_bn"``) and plain Conv2d.

BN folding (the standard QAT scheme of Krishnamoorthi 2018 / ``torch.ao`` ``ConvBn2d``):

* eval mode, or ``freeze_bn=True``: ``w_f = w * gamma / sqrt(running_var + eps)``,
  ``b_f = beta + (b - running_mean) * gamma / sqrt(running_var + eps)``;
  ``y = conv(x, fq(w_f)) + fq_bias(b_f)``: exactly the structure of the integer conv.
* training mode: ``y = BN_batch(conv(x, fq(w_f)) / sf + b)`` with ``sf = gamma /
  sqrt(running_var + eps)``; BN normalises with the batch statistics and updates its running
  statistics, while the weights are quantized as they will be after folding with the running
  statistics. Call :func:`hat.quantization.freeze_bn_stats` late in QAT to switch to the
  folded eval form (running statistics frozen).

ReLU is fused: the output fake quant sits after the ReLU. The bias is fake-quantized to int32
with ``scale = input_scale * weight_scale[c]`` whenever fake quant is enabled and the folded
bias is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hat.quantization.fake_quantize import FakeQuantize
from hat.quantization.qat.base import expect_qtensor, module_device
from hat.quantization.qconfig import QConfig
from hat.quantization.qtensor import QTensor, make_qtensor, plain

__all__ = ["QATConvModule2d", "QATConv2d", "fake_quant_bias", "freeze_bn_stats"]



def fake_quant_bias(b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``round_half_even(b / scale) * scale`` (clamped to int32) with a straight-through grad."""
    q = torch.clamp(torch.round(b / scale), -(2.0**31), 2147483520.0)  # float32-exact int32
    return b + (q * scale - b).detach()


def _check_conv(conv: nn.Conv2d) -> None:
    if conv.padding_mode != "zeros":
        raise NotImplementedError(
            f"quantized conv supports padding_mode='zeros' only, got {conv.padding_mode!r}"
        )
    if isinstance(conv.padding, str):
        raise NotImplementedError("quantized conv needs numeric padding (not 'same'/'valid')")


def _is_relu(act: nn.Module | None) -> bool:
    if act is None:
        return False
    if type(act) is nn.ReLU:
        return True
    raise NotImplementedError(
        f"ConvModule2d act {type(act).__name__} cannot be fused for quantization (only nn.ReLU)"
    )


class _ConvFQMixin:
    """The fake-quant conv computation shared by ConvModule2d and Conv2d."""

    weight_fake_quant: FakeQuantize
    activation_post_process: FakeQuantize | None
    input_scale: torch.Tensor
    input_zero_point: torch.Tensor
    freeze_bn: bool
    relu: bool

    def _conv_module(self) -> nn.Conv2d:
        raise NotImplementedError

    def _norm(self) -> nn.BatchNorm2d | None:
        return None

    def folded_weight_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight and bias with BN folded using the running statistics."""
        conv, bn = self._conv_module(), self._norm()
        if bn is None:
            return conv.weight, conv.bias
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else torch.ones_like(std)
        beta = bn.bias if bn.affine else torch.zeros_like(std)
        sf = gamma / std
        w = conv.weight * sf.reshape(-1, 1, 1, 1)
        b0 = conv.bias if conv.bias is not None else torch.zeros_like(std)
        return w, beta + (b0 - bn.running_mean) * sf

    @torch.no_grad()
    def refresh_weight_qparams(self) -> None:
        """Observe the current (folded) weights once (used when entering VALIDATION)."""
        w, _ = self.folded_weight_bias()
        self.weight_fake_quant.observe(w.detach())

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        c = self._conv_module()
        return F.conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups)

    def _fq_forward(self, x: object) -> torch.Tensor | QTensor:
        xq = expect_qtensor(x, self)  # type: ignore[arg-type]
        with torch.no_grad():
            self.input_scale.copy_(xq.q_scale)
            self.input_zero_point.copy_(xq.q_zero_point)
        xd = plain(xq)
        bn = self._norm()
        wfq = self.weight_fake_quant
        if bn is not None and self.training and not self.freeze_bn:  # type: ignore[attr-defined]
            conv = self._conv_module()
            std = torch.sqrt(bn.running_var + bn.eps)
            gamma = bn.weight if bn.affine else torch.ones_like(std)
            sf = gamma / std
            wq = wfq(conv.weight * sf.reshape(-1, 1, 1, 1))
            y = bn(self._conv(xd, wq, None) * (1.0 / sf).reshape(1, -1, 1, 1))
            if conv.bias is not None:
                # BN(y + b) == BN(y) with batch statistics (b cancels, and so does its
                # gradient); only the running mean sees b: add its share, saving two passes.
                with torch.no_grad():
                    if bn.momentum is None:
                        m = 1.0 / float(bn.num_batches_tracked)
                    else:
                        m = bn.momentum
                    # .data: batch_norm's autograd node keeps running_mean as an (unused in
                    # training) input; bumping its version would fail the backward check.
                    bn.running_mean.data.add_(conv.bias.detach(), alpha=m)
        else:
            w, b = self.folded_weight_bias()
            wq = wfq(w)
            if b is not None and wfq.fake_quant_enabled:
                b = fake_quant_bias(b, xq.q_scale * wfq.scale)
            y = self._conv(xd, wq, b)
        fq = self.activation_post_process
        if fq is None:  # high-precision output
            return F.relu(y) if self.relu else y
        y = fq(y, relu=self.relu)  # ReLU fused into the output fake quant
        return make_qtensor(y, fq.scale, fq.zero_point, fq.qdtype)

    def _init_quant(self, qconfig: QConfig, out_channels: int) -> None:
        self.qconfig = qconfig
        self.weight_fake_quant = FakeQuantize(qconfig.weight, num_channels=out_channels)
        self.activation_post_process = (
            None if qconfig.high_precision_output else FakeQuantize(qconfig.activation)
        )
        self.register_buffer("input_scale", torch.zeros(()))  # type: ignore[attr-defined]
        self.register_buffer(  # type: ignore[attr-defined]
            "input_zero_point", torch.zeros((), dtype=torch.int32)
        )
        self.freeze_bn = False

    def to_int(self) -> nn.Module:
        from hat.quantization.quantized.conv import IntConv2d

        return IntConv2d.from_qat(self)


class QATConvModule2d(_ConvFQMixin, nn.Module):
    """Fused ``conv -> BN -> ReLU`` with fake-quantized (folded) weights and output.

    Submodule names (``conv``, ``norm``) match :class:`hat.nn.ConvModule2d`, so float
    checkpoints load (the fake-quant buffers are the only extra keys).
    """

    def __init__(
        self,
        conv: nn.Conv2d,
        norm: nn.Module | None,
        act: nn.Module | None,
        qconfig: QConfig,
    ) -> None:
        super().__init__()
        _check_conv(conv)
        if norm is not None and not isinstance(norm, nn.BatchNorm2d):
            raise NotImplementedError(
                f"ConvModule2d norm {type(norm).__name__} cannot be folded (only BatchNorm2d)"
            )
        if norm is not None and not norm.track_running_stats:
            raise NotImplementedError("BatchNorm2d without running stats cannot be folded")
        self.conv = conv
        self.norm = norm
        self.relu = _is_relu(act)
        self.act = act
        self._init_quant(qconfig, conv.out_channels)

    def _conv_module(self) -> nn.Conv2d:
        return self.conv

    def _norm(self) -> nn.BatchNorm2d | None:
        return self.norm

    @classmethod
    def from_float(cls, mod: nn.Module, qconfig: QConfig) -> QATConvModule2d:
        out = cls(mod.conv, mod.norm, mod.act, qconfig)
        return out.to(module_device(mod)).train(mod.training)

    def forward(self, x: QTensor) -> torch.Tensor | QTensor:
        return self._fq_forward(x)


class QATConv2d(_ConvFQMixin, nn.Conv2d):
    """Plain ``nn.Conv2d`` with fake-quantized weight, int32 bias and output."""

    relu = False

    def _conv_module(self) -> nn.Conv2d:
        return self

    @classmethod
    def from_float(cls, mod: nn.Conv2d, qconfig: QConfig) -> QATConv2d:
        _check_conv(mod)
        out = cls(
            mod.in_channels,
            mod.out_channels,
            mod.kernel_size,
            mod.stride,
            mod.padding,
            mod.dilation,
            mod.groups,
            mod.bias is not None,
            device=mod.weight.device,
            dtype=mod.weight.dtype,
        )
        out.weight = mod.weight
        out.bias = mod.bias
        out._init_quant(qconfig, mod.out_channels)
        return out.to(mod.weight.device).train(mod.training)

    def forward(self, x: QTensor) -> torch.Tensor | QTensor:  # type: ignore[override]
        return self._fq_forward(x)


def freeze_bn_stats(model: nn.Module, freeze: bool = True) -> nn.Module:
    """Stop (or resume) BN statistics updates in fused QAT convs: training then uses the
    folded running statistics, exactly like eval and the integer model."""
    for m in model.modules():
        if isinstance(m, QATConvModule2d):
            m.freeze_bn = freeze
    return model
