"""Small model-level helpers."""

from __future__ import annotations

from torch import nn

from hat.quantization.fake_quantize import FakeQuantize

__all__ = ["set_observer_averaging_constant", "fake_quantizers"]


def fake_quantizers(model: nn.Module, weights: bool | None = None) -> list[FakeQuantize]:
    """All FakeQuantize modules (``weights=True``: per-channel weight ones only,
    ``False``: the activation ones whose scale an observer sets (a fixed-scale one, e.g. the
    state switch of an op that keeps its input's scale, observes nothing), ``None``: all)."""
    out = []
    for m in model.modules():
        if isinstance(m, FakeQuantize):
            is_w = m.ch_axis is not None
            if weights is False and m.fixed_scale is not None:
                continue
            if weights is None or weights == is_w:
                out.append(m)
    return out


def set_observer_averaging_constant(model: nn.Module, value: float, weights: bool = False) -> int:
    """Set ``averaging_constant`` of the activation (or weight) observers; 0 freezes the
    current activation scales (HAT's QAT configs). Returns the number of observers changed."""
    fqs = fake_quantizers(model, weights=weights)
    for fq in fqs:
        fq.observer.averaging_constant = float(value)
    return len(fqs)
