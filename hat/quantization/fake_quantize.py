"""Fake quantization with observer and HAT's three states.

============  ============================  =========================================
state         observer                      output
============  ============================  =========================================
CALIBRATION   updates the range each call   input unchanged (no fake quant)
QAT           updates the range each call   fake-quantized, straight-through gradient
VALIDATION    frozen                        fake-quantized with the frozen qparams
============  ============================  =========================================

Fake quant computes ``(clamp(round_half_even(x / scale) + zp, qmin, qmax) - zp) * scale`` with a
straight-through gradient inside the range and zero outside: the gradient and values of
``torch.fake_quantize_per_tensor_affine`` / ``_per_channel_affine``, except that torch multiplies
by ``1/scale`` while this divides, exactly like the integer model and ONNX ``QuantizeLinear``
(torch's variant differs by 1 LSB where ``x/scale`` is within float32 rounding of a .5 tie).
The default implementation (``FAKE_QUANT_IMPL = "fast"``) is composed of in-place elementwise
ops, about 3x faster than torch's fake-quant kernel on this CPU (measured 3.5 vs 10.5 ms for
3.1M elements, one thread); torch's kernels are used with ``FAKE_QUANT_IMPL = "torch"`` and
while ``torch.onnx`` exports (they map to QuantizeLinear/DequantizeLinear).

``qmin``/``qmax`` are the storage dtype's range, or half of it when the spec's ``reduce_range``
resolves to True (7-bit weights ``[-64, 63]``, see :mod:`hat.quantization.cpu_features`); the
observer computes the scale for that range, so the integer model's weights (``round(w_fq /
scale)``) and the exported int8 initializers stay inside it. The range is recorded in the buffer
``quant_range``; loading a checkpoint recorded with another range raises, unless the model's
``reduce_range`` was set explicitly (then the loaded weight ranges are re-quantized to the
model's, with a warning: the QAT-trained rounding is lost).
"""

from __future__ import annotations

import enum
import warnings

import torch
from torch import nn

from hat.quantization.cpu_features import detect_cpu_int8_features
from hat.quantization.observers import ObserverBase, build_observer, qparams_from_range
from hat.quantization.qconfig import QuantSpec, resolve_reduce_range
from hat.quantization.qdtypes import get_qdtype, reduced_range

__all__ = [
    "FakeQuantState",
    "FakeQuantize",
    "WeightRangeMismatchError",
    "set_fake_quantize",
    "get_fake_quantize_state",
]


# "fast": the composed kernel below (default; ~3x faster than torch's fake-quant kernel on
# CPU, and it rounds x / scale exactly like the integer model and ONNX QuantizeLinear).
# "torch": torch.fake_quantize_per_tensor_affine / _per_channel_affine (also used
# automatically while torch.onnx exports a QAT model, so that it becomes a QDQ graph).
FAKE_QUANT_IMPL = "fast"


class _FakeQuant(torch.autograd.Function):
    """``(clamp(rne(x / s) + zp, qmin, qmax) - zp) * s``; straight-through gradient inside
    the range, zero outside (the gradient of torch's fake quant)."""

    @staticmethod
    def forward(ctx, x, scale, zp, qmin: int, qmax: int, relu: bool = False):  # noqa: D102
        # clamp(rne(x/s) + zp, qmin, qmax) - zp == clamp(rne(x/s), qmin - zp, qmax - zp)
        # exactly (zp is an integer), which saves two passes over x. A fused ReLU raises the
        # lower bound to 0 (= the zero point): Q(relu(x)) == max(Q(x), zp).
        t = torch.div(x, scale).round_()
        if zp.numel() == 1 and not zp.is_cuda:
            z = float(zp)
            lo = max(qmin - z, 0.0) if relu else qmin - z
            c = t.clamp(lo, qmax - z)
        else:
            lo = qmin - zp
            if relu:
                lo = lo.clamp(min=0)
            c = torch.clamp(t, min=lo, max=qmax - zp)
        if x.is_cuda:
            inside = c.eq(t)  # bool: 1 byte per element
        else:
            # On CPU a float mask is ~4x faster to build (eq with a float `out`) and to apply
            # (no bool -> float conversion in backward) than a bool mask or masked_fill.
            inside = torch.eq(c, t, out=torch.empty_like(c))
        ctx.save_for_backward(inside)
        return c.mul_(scale)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None, None


class FakeQuantState(enum.Enum):
    """HAT's fake-quant states."""

    CALIBRATION = "calibration"
    QAT = "qat"
    VALIDATION = "validation"


class FakeQuantize(nn.Module):
    """Observer + fake quant for one tensor (per tensor or per channel).

    Buffers ``scale`` (float32) and ``zero_point`` (int32) have shape ``()`` or ``(C,)`` from
    construction on, so calibration and QAT checkpoints share keys and shapes; ``quant_range``
    (int32 ``[qmin, qmax]``) records the integer range the scales belong to. ``qdtype`` is the
    storage dtype; ``qmin``/``qmax`` the range actually used (reduced for 7-bit weights).
    """

    def __init__(self, spec: QuantSpec, num_channels: int = 1) -> None:
        super().__init__()
        self.spec = spec
        self.qdtype = get_qdtype(spec.dtype)
        self.reduce_range = resolve_reduce_range(spec.reduce_range)
        qrange = reduced_range(self.qdtype) if self.reduce_range else self.qdtype
        self.qmin, self.qmax = qrange.qmin, qrange.qmax
        self.symmetric = spec.symmetric
        self.ch_axis = spec.ch_axis if spec.per_channel else None
        shape = (num_channels,) if spec.per_channel else ()
        self.observer: ObserverBase = build_observer(
            spec.observer,
            qdtype=qrange,
            symmetric=spec.symmetric,
            ch_axis=self.ch_axis,
            num_channels=num_channels,
            averaging_constant=spec.averaging_constant,
            **dict(spec.observer_kwargs),
        )
        self.register_buffer("scale", torch.ones(shape, dtype=torch.float32))
        self.register_buffer("zero_point", torch.zeros(shape, dtype=torch.int32))
        self.register_buffer("quant_range", torch.tensor([self.qmin, self.qmax], dtype=torch.int32))
        self.fixed_scale = spec.fixed_scale
        if spec.fixed_scale is not None:
            self.scale.fill_(float(spec.fixed_scale))
            if spec.fixed_zero_point is not None:
                self.zero_point.fill_(int(spec.fixed_zero_point))
            elif not self.qdtype.signed:  # the symmetric int8 grid shifted by 128
                self.zero_point.fill_((self.qdtype.qmax + 1) // 2)
        self.set_state(FakeQuantState.QAT)

    # ------------------------------------------------------------------------------------
    @property
    def has_qparams(self) -> bool:
        return self.fixed_scale is not None or self.observer.initialized

    def set_state(self, state: FakeQuantState) -> None:
        state = FakeQuantState(state)
        self.observe_enabled = state in (FakeQuantState.CALIBRATION, FakeQuantState.QAT)
        self.fake_quant_enabled = state in (FakeQuantState.QAT, FakeQuantState.VALIDATION)
        self.state = state

    @torch.no_grad()
    def observe(self, x: torch.Tensor, relu: bool = False) -> None:
        """Update the observer with ``x`` (or ``relu(x)``) and refresh ``scale``/``zero_point``."""
        if self.fixed_scale is not None:
            return
        self.observer(x, relu=relu)
        scale, zp = self.observer.calculate_qparams()
        self.scale.copy_(scale)
        self.zero_point.copy_(zp)

    def fake_quant(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        qmin, qmax = self.qmin, self.qmax
        if FAKE_QUANT_IMPL == "torch" or torch.onnx.is_in_onnx_export():
            if relu:
                x = torch.relu(x)
            if self.ch_axis is None:
                return torch.fake_quantize_per_tensor_affine(
                    x, self.scale, self.zero_point, qmin, qmax
                )
            return torch.fake_quantize_per_channel_affine(
                x, self.scale, self.zero_point, self.ch_axis, qmin, qmax
            )
        scale, zp = self.scale, self.zero_point
        if self.ch_axis is not None:
            shape = [1] * x.dim()
            shape[self.ch_axis] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        return _FakeQuant.apply(x, scale, zp.to(x.dtype), qmin, qmax, relu)

    def forward(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """Observe/fake-quantize ``x``; ``relu=True`` fuses a preceding ReLU (same values as
        ``self(relu(x))``, one pass less; the gradient differs only for ``-scale/2 < x < 0``)."""
        if self.observe_enabled or not self.has_qparams:
            self.observe(x, relu=relu)
        if self.fake_quant_enabled:
            return self.fake_quant(x, relu=relu)
        return torch.relu(x) if relu else x

    # ------------------------------------------------------------------------------------
    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        key = prefix + "quant_range"
        mine = (self.qmin, self.qmax)
        if key in state_dict:
            theirs: tuple[int, ...] | None = tuple(int(v) for v in state_dict[key].reshape(-1))
        elif prefix + "scale" in state_dict:
            # written before the range was recorded: the full range of the dtype
            theirs = (self.qdtype.qmin, self.qdtype.qmax)
        else:
            theirs = None  # e.g. a float checkpoint: no quantization parameters at all
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        if key not in state_dict and theirs is not None and key in missing_keys:
            missing_keys.remove(key)
        self.quant_range.copy_(torch.tensor(mine, dtype=torch.int32))
        if theirs is None or theirs == mine:
            return
        if self.spec.reduce_range == "auto":
            # raised, not appended to error_msgs: callers shorten load_state_dict's errors
            raise WeightRangeMismatchError.build(prefix[:-1] or "(root)", theirs, mine)
        warnings.warn(
            f"weight quantization ranges recorded for [{theirs[0]}, {theirs[-1]}] are "
            f"re-quantized to [{mine[0]}, {mine[1]}] (reduce_range={self.spec.reduce_range!r} "
            "set explicitly): the rounding learned in QAT is lost, expect an accuracy change; "
            "fine-tune with QAT (or recalibrate) and re-validate",
            stacklevel=2,
        )
        # the observer (a child module) is loaded after this module: use its checkpoint range
        lo, hi = (
            state_dict.get(prefix + "observer.min_val"),
            state_dict.get(prefix + "observer.max_val"),
        )
        if self.fixed_scale is None and lo is not None and hi is not None:
            if bool(torch.isfinite(lo).all()) and bool(torch.isfinite(hi).all()):
                scale, zp = qparams_from_range(lo, hi, self.observer.qdtype, self.symmetric)
                self.scale.copy_(scale)
                self.zero_point.copy_(zp)

    def extra_repr(self) -> str:
        fixed = f", fixed_scale={self.fixed_scale}" if self.fixed_scale is not None else ""
        rng = f", range=[{self.qmin}, {self.qmax}]" if self.reduce_range else ""
        return (
            f"dtype={self.qdtype.name}{rng}, symmetric={self.symmetric}, ch_axis={self.ch_axis}, "
            f"observe={self.observe_enabled}, fake_quant={self.fake_quant_enabled}{fixed}"
        )


class WeightRangeMismatchError(ValueError):
    """A checkpoint's weight quantization range differs from the model's ``"auto"`` one."""

    @classmethod
    def build(
        cls, name: str, theirs: tuple[int, ...], mine: tuple[int, int]
    ) -> WeightRangeMismatchError:
        cpu = detect_cpu_int8_features()
        if mine[1] < theirs[-1]:  # the checkpoint has full-range weights, the model 7-bit ones
            choice = (
                "False keeps the checkpoint's full-range weights (right when the model runs on "
                "a CPU with VNNI or on ARM; on a CPU without VNNI ONNX Runtime will not match "
                "int_infer bit for bit), True re-quantizes them to the reduced range (accuracy "
                "risk: fine-tune with QAT or recalibrate, and re-validate)"
            )
        else:
            choice = (
                "True keeps the checkpoint's reduced-range weights (exact on every CPU), False "
                "re-quantizes them to the full range (re-validate)"
            )
        return cls(
            f"weight quantizer {name}: range [{theirs[0]}, {theirs[-1]}] in the checkpoint but "
            f"[{mine[0]}, {mine[1]}] in the model (the others alike): "
            f"weight_reduce_range='auto' resolved on this CPU (ISA {cpu.isa}: ONNX Runtime's "
            f"u8 x s8 kernel is {cpu.u8s8_kernel}), and 'auto' never re-quantizes a trained "
            "model. Set it explicitly (get_default_qconfig(weight_reduce_range=...) or the "
            f"convert pipeline's qconfig_params=dict(weight_reduce_range=...)): {choice}"
        )


def set_fake_quantize(model: nn.Module, state: FakeQuantState | str) -> nn.Module:
    """Put every :class:`FakeQuantize` of ``model`` into ``state`` (HAT's ``set_fake_quantize``).

    Switching to VALIDATION first re-observes the weights of every weighted QAT module (so the
    frozen weight scales belong to the final weights, not to the weights before the last
    optimizer step).
    """
    state = FakeQuantState(state)
    for m in model.modules():
        if state is FakeQuantState.VALIDATION and hasattr(m, "refresh_weight_qparams"):
            m.refresh_weight_qparams()
    for m in model.modules():
        if isinstance(m, FakeQuantize):
            m.set_state(state)
    return model


def get_fake_quantize_state(model: nn.Module) -> FakeQuantState | None:
    """The state of the first FakeQuantize in ``model`` (None if there is none)."""
    for m in model.modules():
        if isinstance(m, FakeQuantize):
            return getattr(m, "state", None)
    return None
