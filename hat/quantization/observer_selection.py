"""Choose the activation observer of a calibration by the model's output error.

No single observer wins on every network: min/max keeps outliers the next layer needs,
a percentile clips a long tail that would waste the 8-bit grid, the MSE search balances both per
tensor. :class:`~hat.engine.calibrator.Calibrator` with ``observer_candidates`` calibrates the
model for every candidate in one pass over the batches: calibration runs without fake
quantization, so every candidate observes the same float activations, and every activation
quantizer hands each of them to one observer per candidate (:class:`CandidateObservers`; each
candidate ends as a calibration with it alone would, bit for bit). It keeps the candidate whose
fake-quantized outputs are closest to the float outputs on the first ``selection_batches``
calibration batches: the sum over the model's floating-point output tensors of
``mean((q - f)^2) / mean(f^2)`` (each output weighs the same whatever its units), averaged over
the batches (and over ranks under a process group, so that every rank keeps the same one).
Weight quantizers and fixed-scale activations are untouched.

A candidate is a dict: ``dict(observer="percentile", percentile=99.999)`` (an observer name of
:data:`hat.quantization.observers.OBSERVERS` and its arguments, ``averaging_constant`` too).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from hat.quantization.fake_quantize import FakeQuantize
from hat.quantization.observers import (
    OBSERVERS,
    ObserverBase,
    build_observer,
    shared_histograms,
)

__all__ = [
    "DEFAULT_OBSERVER_CANDIDATES",
    "CandidateObservers",
    "activation_quantizers",
    "candidate_label",
    "candidate_observer",
    "check_candidates",
    "output_error",
    "recorded_buffers",
    "restore_activation_state",
    "restore_buffers",
    "save_activation_state",
    "set_activation_observer",
]

# What the recipes try: ORT's MinMax and Percentile (99.999 on |x|) choices, a tighter
# percentile and the per-tensor MSE search.
DEFAULT_OBSERVER_CANDIDATES: tuple[dict[str, Any], ...] = (
    dict(observer="min_max"),
    dict(observer="percentile", percentile=99.999),
    dict(observer="percentile", percentile=99.99),
    dict(observer="mse"),
)


def candidate_label(candidate: Mapping[str, Any]) -> str:
    """``"percentile(percentile=99.999)"``."""
    args = ", ".join(f"{k}={v}" for k, v in candidate.items() if k != "observer")
    return f"{candidate['observer']}({args})" if args else str(candidate["observer"])


def check_candidates(candidates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validated copies; a clear error naming the bad entry."""
    out = []
    for i, c in enumerate(candidates):
        if not isinstance(c, Mapping) or c.get("observer") not in OBSERVERS:
            raise ValueError(
                f"observer_candidates[{i}]: expected dict(observer=<one of {sorted(OBSERVERS)}>, "
                f"...arguments), got {c!r}"
            )
        try:  # the arguments must suit the observer
            build_observer(c["observer"], **{k: v for k, v in c.items() if k != "observer"})
        except TypeError as exc:
            raise ValueError(f"observer_candidates[{i}] {candidate_label(c)}: {exc}") from None
        out.append(dict(c))
    if not out:
        raise ValueError("observer_candidates is empty")
    return out


def activation_quantizers(model: nn.Module) -> list[tuple[str, FakeQuantize]]:
    """The observed activation quantizers of ``model`` (no weights, no fixed scales)."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, FakeQuantize)
        and not name.endswith("weight_fake_quant")
        and m.ch_axis is None
        and m.fixed_scale is None
    ]


def candidate_observer(fq: FakeQuantize, candidate: Mapping[str, Any]) -> ObserverBase:
    """A fresh observer of ``candidate`` for ``fq``: the dtype, range, symmetry and averaging
    constant of its current observer unless the candidate sets them, on its device."""
    old = fq.observer
    args: dict[str, Any] = dict(
        qdtype=old.qdtype,
        symmetric=old.symmetric,
        ch_axis=None,
        averaging_constant=old.averaging_constant,
    )
    args.update({k: v for k, v in candidate.items() if k != "observer"})
    return build_observer(candidate["observer"], **args).to(old.min_val.device)


def set_activation_observer(model: nn.Module, candidate: Mapping[str, Any]) -> int:
    """Give every activation quantizer a fresh observer of ``candidate`` (same dtype, range,
    symmetry); returns how many were changed."""
    quantizers = activation_quantizers(model)
    for _, fq in quantizers:
        fq.observer = candidate_observer(fq, candidate)
    return len(quantizers)


ActivationState = dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]


def save_activation_state(model: nn.Module) -> ActivationState:
    """The observer, scale and zero point of every activation quantizer (copies)."""
    return {
        name: (copy.deepcopy(fq.observer), fq.scale.clone(), fq.zero_point.clone())
        for name, fq in activation_quantizers(model)
    }


def restore_activation_state(
    model: nn.Module, state: ActivationState, share_observed: bool = False
) -> None:
    """Put back what :func:`save_activation_state` returned; with ``share_observed`` the
    observers that have observed are put back themselves, not copies (for frozen quantizers:
    VALIDATION never updates such an observer)."""
    for name, fq in activation_quantizers(model):
        observer, scale, zp = state[name]
        shared = share_observed and isinstance(observer, ObserverBase) and observer.initialized
        fq.observer = observer if shared else copy.deepcopy(observer)
        fq.scale.copy_(scale)
        fq.zero_point.copy_(zp)


def recorded_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the buffers outside the quantizers, e.g. the input scales QAT modules record in
    every forward (``input_scale``): what a forward with a candidate leaves there."""
    return {
        f"{name}.{key}" if name else key: buf.clone()
        for name, module in model.named_modules()
        if not isinstance(module, (FakeQuantize, ObserverBase))
        for key, buf in module.named_buffers(recurse=False)
    }


def restore_buffers(model: nn.Module, buffers: Mapping[str, torch.Tensor]) -> None:
    """Put back what :func:`recorded_buffers` returned."""
    for name, value in buffers.items():
        model.get_buffer(name).copy_(value)


def _feed_hook(observers: Sequence[ObserverBase]) -> Callable[..., None]:
    """A forward pre-hook of a :class:`FakeQuantize` that gives ``observers`` what it observes
    (the input, with its ``relu`` flag, whenever its own observer is updated)."""

    def hook(fq: FakeQuantize, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if fq.observe_enabled or not fq.has_qparams:
            relu = args[1] if len(args) > 1 else kwargs.get("relu", False)
            with shared_histograms():  # one histogram of a kind for all the candidates
                for observer in observers:
                    observer(args[0], relu=relu)

    return hook


class CandidateObservers:
    """One observer per candidate beside every activation quantizer of ``model``.

    Every observer is built from the quantizer's observer as it is now
    (:func:`candidate_observer`); the first candidate's becomes the quantizer's own observer
    (its scale follows it as usual), the others observe the same inputs through forward
    pre-hooks until :meth:`detach`. :meth:`states` then holds for each candidate what a
    calibration with that candidate alone leaves behind (:func:`save_activation_state`).
    """

    def __init__(self, model: nn.Module, candidates: Sequence[Mapping[str, Any]]) -> None:
        self.num_candidates = len(candidates)
        self.observers: dict[str, list[ObserverBase]] = {}
        self._quantizers = activation_quantizers(model)
        self._handles: list[RemovableHandle] = []
        for name, fq in self._quantizers:
            observers = [candidate_observer(fq, c) for c in candidates]
            fq.observer = observers[0]
            self.observers[name] = observers
            if len(observers) > 1:
                hook = _feed_hook(observers[1:])
                self._handles.append(fq.register_forward_pre_hook(hook, with_kwargs=True))

    def detach(self) -> None:
        """Stop feeding the other candidates' observers (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def states(self) -> list[ActivationState]:
        """Per candidate: every quantizer's observer and the scale and zero point it gives (the
        quantizer's current ones for an observer that saw nothing)."""
        return [self._state(i) for i in range(self.num_candidates)]

    def _state(self, index: int) -> ActivationState:
        state: ActivationState = {}
        for name, fq in self._quantizers:
            observer = self.observers[name][index]
            scale, zp = fq.scale.clone(), fq.zero_point.clone()
            if observer.initialized:
                s, z = observer.calculate_qparams()
                scale.copy_(s)
                zp.copy_(z)
            state[name] = (copy.deepcopy(observer), scale, zp)
        return state


def _float_tensors(outputs: Any) -> Iterable[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        if outputs.is_floating_point():
            yield outputs
    elif isinstance(outputs, Mapping):
        for key in sorted(outputs, key=str):
            yield from _float_tensors(outputs[key])
    elif isinstance(outputs, (list, tuple)):
        for item in outputs:
            yield from _float_tensors(item)


def output_error(quantized: Any, reference: Any) -> float:
    """``sum_t mean((q_t - f_t)^2) / mean(f_t^2)`` over the floating-point tensors of two
    outputs of the same structure."""
    q, f = list(_float_tensors(quantized)), list(_float_tensors(reference))
    if len(q) != len(f) or not f:
        raise ValueError(
            f"output_error: {len(q)} and {len(f)} floating-point output tensors (need the same "
            "non-zero number)"
        )
    total = 0.0
    for i, (a, b) in enumerate(zip(q, f, strict=True)):
        if a.shape != b.shape:
            raise ValueError(
                f"output_error: output tensor {i} has shape {tuple(a.shape)} quantized and "
                f"{tuple(b.shape)} in float; the observer choice needs outputs of a fixed "
                "shape (a tracker's variable set of boxes has none: give its calibration "
                "observer_candidates=None)"
            )
        a, b = a.detach().double(), b.detach().double()
        total += float(((a - b) ** 2).mean() / (b**2).mean().clamp(min=1e-12))
    return total
