"""Range observers: ``min_max``, ``percentile``, ``mse`` and ``kl`` (HAT's names).

Every observer turns one batch into a candidate range ``(lo, hi)`` (per tensor, or per channel
for ``min_max`` weights) and merges it into its buffers ``min_val``/``max_val``:

* first observation (buffers still ``+inf``/``-inf``): ``min_val, max_val = lo, hi``;
* later: exponential moving average ``min_val += c * (lo - min_val)`` (same for ``max_val``)
  with ``c = averaging_constant``. ``c = 1`` keeps only the latest batch; ``c = 0`` keeps the
  current range (and thus the current scale) unchanged: that is how HAT's QAT configs freeze the
  calibrated activation scales.

:meth:`ObserverBase.calculate_qparams` converts the range into ``(scale, zero_point)``:

* the range is first widened to contain 0 (``lo <= 0 <= hi``);
* asymmetric: ``scale = (hi - lo) / (qmax - qmin)``,
  ``zero_point = clamp(qmin - round_half_even(lo / scale), qmin, qmax)``;
* symmetric: ``scale = max(-lo, hi) / qmax`` and ``zero_point = 0`` for signed types
  (``int8``: x/127, ``int16``: x/32767); for ``uint8`` the symmetric grid is the ``int8`` grid
  shifted by 128 (``zero_point = 128``, ``scale = amax / 127``);
* ``scale`` is at least ``float32 eps``; all arithmetic is float32.

The histogram observers (``percentile``, ``mse``, ``kl``) compute the batch range from a
``bins``-bin histogram of the batch (``torch.histc``), so their cost does not grow with the
tensor size beyond one pass. Observers called on the same tensor (with the same ``relu``) inside
:func:`shared_histograms` compute each histogram once (the observer choice of a calibration
feeds one activation to several candidates).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch
from torch import nn

from hat.quantization.qdtypes import QDType, get_qdtype

__all__ = [
    "ObserverBase",
    "MinMaxObserver",
    "PercentileObserver",
    "MSEObserver",
    "KLObserver",
    "OBSERVERS",
    "build_observer",
    "qparams_from_range",
    "shared_histograms",
]

_EPS = float(torch.finfo(torch.float32).eps)


def qparams_from_range(
    lo: torch.Tensor, hi: torch.Tensor, qdtype: QDType, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale float32, zero_point int32)`` for the range ``[lo, hi]`` (see module doc)."""
    lo = torch.clamp(lo.float(), max=0.0)
    hi = torch.clamp(hi.float(), min=0.0)
    if symmetric:
        amax = torch.maximum(-lo, hi)
        if qdtype.signed:
            scale = amax / float(qdtype.qmax)
            zp = torch.zeros_like(scale, dtype=torch.int32)
        else:
            half = (qdtype.qmax - qdtype.qmin + 1) // 2
            scale = amax / float(half - 1)
            zp = torch.full_like(scale, half, dtype=torch.int32)
        return torch.clamp(scale, min=_EPS), zp
    scale = torch.clamp((hi - lo) / float(qdtype.qmax - qdtype.qmin), min=_EPS)
    zp = torch.clamp(qdtype.qmin - torch.round(lo / scale), qdtype.qmin, qdtype.qmax)
    return scale, zp.to(torch.int32)


class ObserverBase(nn.Module):
    """Tracks ``min_val``/``max_val`` with an EMA (``averaging_constant``).

    Args:
        qdtype: target quantized dtype (its range matters for ``mse``/``kl`` and qparams;
            a :func:`~hat.quantization.qdtypes.reduced_range` one for 7-bit weights).
        symmetric: symmetric (zero point fixed) or asymmetric quantization.
        ch_axis: channel axis for per-channel ranges (``None``: per tensor).
        num_channels: size of ``ch_axis`` (buffers are allocated up front so that state dicts
            of calibration and QAT models have identical keys and shapes).
        averaging_constant: EMA factor ``c`` in ``[0, 1]`` (see module doc).
    """

    supports_per_channel = False

    def __init__(
        self,
        qdtype: str | QDType = "uint8",
        symmetric: bool = False,
        ch_axis: int | None = None,
        num_channels: int = 1,
        averaging_constant: float = 0.01,
    ) -> None:
        super().__init__()
        if not 0.0 <= averaging_constant <= 1.0:
            raise ValueError(f"averaging_constant must be in [0, 1], got {averaging_constant}")
        if ch_axis is not None and not self.supports_per_channel:
            raise ValueError(f"{type(self).__name__} is per-tensor only")
        self.qdtype = get_qdtype(qdtype)
        self.symmetric = symmetric
        self.ch_axis = ch_axis
        self.averaging_constant = float(averaging_constant)
        shape = (num_channels,) if ch_axis is not None else ()
        self.register_buffer("min_val", torch.full(shape, math.inf))
        self.register_buffer("max_val", torch.full(shape, -math.inf))

    @property
    def initialized(self) -> bool:
        # cached: checking the buffers would synchronise a GPU on every call
        if not getattr(self, "_initialized", False):
            self._initialized = bool(torch.isfinite(self.min_val).all())
        return self._initialized

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._initialized = False  # re-check the loaded buffers

    def batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidate ``(lo, hi)`` of one batch."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, x: torch.Tensor, relu: bool = False) -> torch.Tensor:
        """Observe ``x`` (``relu=True``: observe ``relu(x)``, the range of a fused ReLU)."""
        x = x.detach().float()
        if x.numel() == 0:
            return x
        if relu and not isinstance(self, MinMaxObserver):
            x = torch.relu(x)
        lo, hi = self.batch_range(x)
        if relu:  # min/max of relu(x) without materialising it
            lo, hi = lo.clamp(min=0.0), hi.clamp(min=0.0)
        lo = lo.to(self.min_val)
        hi = hi.to(self.max_val)
        if not self.initialized:
            self.min_val.copy_(lo.expand_as(self.min_val))
            self.max_val.copy_(hi.expand_as(self.max_val))
        elif self.averaging_constant > 0:
            c = self.averaging_constant
            self.min_val.add_(c * (lo - self.min_val))
            self.max_val.add_(c * (hi - self.max_val))
        return x

    def calculate_qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.initialized:
            raise RuntimeError(f"{type(self).__name__} has not observed any data yet")
        return qparams_from_range(self.min_val, self.max_val, self.qdtype, self.symmetric)

    def extra_repr(self) -> str:
        return (
            f"qdtype={self.qdtype.name}, symmetric={self.symmetric}, ch_axis={self.ch_axis}, "
            f"averaging_constant={self.averaging_constant}"
        )


class MinMaxObserver(ObserverBase):
    """Batch range = ``(min(x), max(x))`` (per channel when ``ch_axis`` is set)."""

    supports_per_channel = True

    def batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.ch_axis is None:
            return torch.aminmax(x)
        xc = x.transpose(0, self.ch_axis).reshape(x.shape[self.ch_axis], -1)
        return torch.aminmax(xc, dim=1)


_SHARED: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar(
    "hat_shared_histograms", default=None
)


@contextlib.contextmanager
def shared_histograms() -> Iterator[None]:
    """Inside, the histogram observers share their histograms: every call must observe the same
    tensor with the same ``relu`` flag (the results are those of separate calls)."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _shared(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """``compute()``, once per ``key`` inside :func:`shared_histograms` (read-only results)."""
    cache = _SHARED.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


class _HistogramObserver(ObserverBase):
    def __init__(self, bins: int = 2048, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bins = int(bins)

    def _hist(self, x: torch.Tensor) -> tuple[np.ndarray, float, float]:
        return _shared(("hist", self.bins), lambda: self._compute_hist(x))

    def _abs_hist(self, x: torch.Tensor) -> tuple[np.ndarray, float]:
        return _shared(("abs_hist", self.bins), lambda: self._compute_abs_hist(x))

    def _compute_hist(self, x: torch.Tensor) -> tuple[np.ndarray, float, float]:
        lo, hi = float(x.min()), float(x.max())
        if hi <= lo:
            hi = lo + _EPS
        h = torch.histc(x, bins=self.bins, min=lo, max=hi).double().cpu().numpy()
        return h, lo, hi

    def _compute_abs_hist(self, x: torch.Tensor) -> tuple[np.ndarray, float]:
        amax = float(x.abs().max())
        amax = max(amax, _EPS)
        h = torch.histc(x.abs(), bins=self.bins, min=0.0, max=amax).double().cpu().numpy()
        return h, amax


class PercentileObserver(_HistogramObserver):
    """Batch range clipped at the ``percentile`` (e.g. 99.99) of the data.

    Symmetric targets use the histogram of ``|x|``: ``t`` = upper edge of the first bin whose
    cumulative count reaches ``percentile/100 * N``; range ``(-t, t)`` (``(0, t)`` for
    non-negative data). Asymmetric targets clip both tails of the histogram of ``x``:
    ``hi`` = upper edge of the first bin with cumulative count ``>= p*N``, ``lo`` = lower edge of
    the first bin with cumulative count ``> (1-p)*N``.
    """

    def __init__(self, percentile: float = 99.99, bins: int = 2048, **kwargs) -> None:
        super().__init__(bins=bins, **kwargs)
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        self.percentile = float(percentile)

    def batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.percentile / 100.0
        if self.symmetric:
            h, amax = self._abs_hist(x)
            cdf = np.cumsum(h)
            i = int(np.searchsorted(cdf, p * cdf[-1] - 1e-9))
            t = amax * (i + 1) / self.bins
            lo = -t if float(x.min()) < 0 else 0.0
            return torch.tensor(lo), torch.tensor(t)
        h, lo, hi = self._hist(x)
        cdf = np.cumsum(h)
        width = (hi - lo) / self.bins
        i_hi = int(np.searchsorted(cdf, p * cdf[-1] - 1e-9))
        i_lo = int(np.searchsorted(cdf, (1.0 - p) * cdf[-1] + 1e-9, side="right"))
        return torch.tensor(lo + i_lo * width), torch.tensor(lo + (i_hi + 1) * width)


def _fq_np(v: np.ndarray, scale: np.ndarray, zp: np.ndarray, qd: QDType) -> np.ndarray:
    q = np.clip(np.rint(v / scale) + zp, qd.qmin, qd.qmax)
    return (q - zp) * scale


class MSEObserver(_HistogramObserver):
    """Batch range minimising the quantization MSE over shrunk candidate ranges.

    Candidates are ``(a * lo_b, a * hi_b)`` for ``a`` in ``linspace(min_ratio, 1,
    num_candidates)`` where ``(lo_b, hi_b)`` is the batch min/max; the error of each is
    ``sum_i n_i (c_i - fq(c_i))^2`` over the histogram bins (centres ``c_i``, counts ``n_i``)
    with the target's own qparam rule (so clipping and rounding error are both counted).
    """

    def __init__(
        self, bins: int = 2048, num_candidates: int = 100, min_ratio: float = 0.05, **kwargs
    ) -> None:
        super().__init__(bins=bins, **kwargs)
        self.num_candidates = int(num_candidates)
        self.min_ratio = float(min_ratio)

    def batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, lo, hi = self._hist(x)
        width = (hi - lo) / self.bins
        centres = lo + (np.arange(self.bins) + 0.5) * width
        alphas = np.linspace(self.min_ratio, 1.0, self.num_candidates)
        c_lo = torch.tensor(np.minimum(lo, 0.0) * alphas, dtype=torch.float32)
        c_hi = torch.tensor(np.maximum(hi, 0.0) * alphas, dtype=torch.float32)
        scale, zp = qparams_from_range(c_lo, c_hi, self.qdtype, self.symmetric)
        s = scale.double().numpy()[:, None]
        z = zp.double().numpy()[:, None]
        err = ((centres[None, :] - _fq_np(centres[None, :], s, z, self.qdtype)) ** 2 * h).sum(1)
        best = int(np.argmin(err))
        return c_lo[best], c_hi[best]


class KLObserver(_HistogramObserver):
    """Batch range from TensorRT-style entropy calibration on the histogram of ``|x|``.

    For each candidate threshold bin ``i`` (from ``L`` to ``bins``, every ``stride`` bins) the
    clipped reference distribution ``P`` (outliers added to the last bin) is compared with its
    ``L``-level quantized version ``Q``; the threshold ``t = i * bin_width`` with the smallest
    ``KL(P || Q)`` wins. ``L`` is the number of levels available on one side: ``2^(bits-1)``,
    or the full ``2^bits`` for non-negative data on an asymmetric target. Range: ``(-t, t)``
    clipped to the batch min/max.
    """

    def __init__(self, bins: int = 2048, stride: int = 8, **kwargs) -> None:
        super().__init__(bins=bins, **kwargs)
        self.stride = int(stride)

    def batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xmin, xmax = float(x.min()), float(x.max())
        h, amax = self._abs_hist(x)
        levels = self.qdtype.qmax - self.qdtype.qmin + 1
        if xmin < 0 or self.symmetric:
            levels //= 2
        best_i, best_kl = self.bins, math.inf
        levels = min(levels, self.bins)
        for i in range(levels, self.bins + 1, self.stride):
            kl = _kl_for_threshold(h, i, levels)
            if kl < best_kl:
                best_kl, best_i = kl, i
        t = amax * best_i / self.bins
        return torch.tensor(max(xmin, -t)), torch.tensor(min(xmax, t))


def _kl_for_threshold(h: np.ndarray, i: int, levels: int) -> float:
    p = h[:i].copy()
    p[i - 1] += h[i:].sum()
    nonzero = h[:i] != 0
    # split the i bins into `levels` groups and spread each group's mass over its non-zero bins
    edges = np.linspace(0, i, levels + 1)
    idx = np.minimum(np.floor(np.arange(i) * levels / i).astype(np.int64), levels - 1)
    del edges
    group_mass = np.bincount(idx, weights=h[:i], minlength=levels)
    group_nz = np.bincount(idx, weights=nonzero.astype(np.float64), minlength=levels)
    q = np.where(nonzero, group_mass[idx] / np.maximum(group_nz[idx], 1), 0.0)
    ps, qs = p.sum(), q.sum()
    if ps <= 0 or qs <= 0:
        return math.inf
    p = p / ps
    q = q / qs
    mask = p > 0
    qm = np.maximum(q[mask], 1e-12)
    return float(np.sum(p[mask] * np.log(p[mask] / qm)))


OBSERVERS: dict[str, type[ObserverBase]] = {
    "min_max": MinMaxObserver,
    "percentile": PercentileObserver,
    "mse": MSEObserver,
    "kl": KLObserver,
}


def build_observer(name: str, **kwargs) -> ObserverBase:
    """Instantiate an observer by HAT name (``min_max``, ``percentile``, ``mse``, ``kl``)."""
    if name not in OBSERVERS:
        raise ValueError(f"unknown observer {name!r}; choose from {sorted(OBSERVERS)}")
    return OBSERVERS[name](**kwargs)
