"""Accumulated float-vs-quantized error statistics of one tensor over several batches."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["DiffStats"]


@dataclass
class DiffStats:
    """Sums over all elements of all batches seen (float64).

    * cosine: ``<f, q> / (|f| |q|)`` over the flattened tensors (1 if both are zero);
    * SQNR: ``10 log10(sum f^2 / sum (f - q)^2)`` dB (inf when identical);
    * max abs error and max error in LSB (``|f - q| / scale``; None without a scale);
    * worst channel SQNR: the lowest per-channel (dim 1) SQNR. A per-tensor scale stretched by
      one large channel crushes the small ones while the whole-tensor cosine stays near 1;
      this figure shows it.
    """

    elements: int = 0
    dot: float = 0.0
    float_sq: float = 0.0
    quant_sq: float = 0.0
    err_sq: float = 0.0
    err_abs_sum: float = 0.0
    max_abs_err: float = 0.0
    max_abs_float: float = 0.0
    lsb: float | None = None
    channel_float_sq: torch.Tensor | None = None
    channel_err_sq: torch.Tensor | None = None

    def update(self, reference: torch.Tensor, quantized: torch.Tensor, lsb: float | None) -> None:
        """Add one batch (``reference`` and ``quantized`` real values of equal shape)."""
        if reference.shape != quantized.shape:
            raise ValueError(
                f"shape mismatch: float {tuple(reference.shape)} vs quantized "
                f"{tuple(quantized.shape)}"
            )
        f = reference.detach().reshape(-1).to(torch.float64)
        q = quantized.detach().reshape(-1).to(torch.float64)
        e = f - q
        self.elements += f.numel()
        self.dot += float(f @ q)
        self.float_sq += float(f @ f)
        self.quant_sq += float(q @ q)
        self.err_sq += float(e @ e)
        self.err_abs_sum += float(e.abs().sum())
        if f.numel():
            self.max_abs_err = max(self.max_abs_err, float(e.abs().max()))
            self.max_abs_float = max(self.max_abs_float, float(f.abs().max()))
        if lsb is not None and lsb > 0:
            self.lsb = lsb
        if reference.dim() >= 2 and reference.shape[1] > 1:
            self._update_channels(reference, quantized)

    def _update_channels(self, reference: torch.Tensor, quantized: torch.Tensor) -> None:
        c = reference.shape[1]
        f = reference.detach().transpose(0, 1).reshape(c, -1).to(torch.float64)
        e = f - quantized.detach().transpose(0, 1).reshape(c, -1).to(torch.float64)
        fs, es = (f * f).sum(1), (e * e).sum(1)
        if self.channel_float_sq is None or self.channel_err_sq is None:
            self.channel_float_sq, self.channel_err_sq = fs, es
        else:
            self.channel_float_sq += fs
            self.channel_err_sq += es

    @property
    def cosine(self) -> float:
        denom = math.sqrt(self.float_sq * self.quant_sq)
        if denom == 0.0:
            return 1.0 if self.float_sq == self.quant_sq else 0.0
        return self.dot / denom

    @property
    def sqnr_db(self) -> float:
        if self.err_sq == 0.0:
            return math.inf
        if self.float_sq == 0.0:
            return -math.inf
        return 10.0 * math.log10(self.float_sq / self.err_sq)

    @property
    def min_channel_sqnr_db(self) -> float | None:
        """The lowest per-channel SQNR (channels that are zero in the float model skipped)."""
        if self.channel_float_sq is None or self.channel_err_sq is None:
            return None
        live = self.channel_float_sq > 0
        if not bool(live.any()):
            return None
        ratio = self.channel_float_sq[live] / self.channel_err_sq[live]
        return float(10.0 * torch.log10(ratio).min())

    @property
    def mean_abs_err(self) -> float:
        return self.err_abs_sum / self.elements if self.elements else 0.0

    @property
    def max_err_lsb(self) -> float | None:
        return self.max_abs_err / self.lsb if self.lsb else None

    def summary(self) -> dict[str, float | int | None]:
        """The derived figures (infinite SQNR as ``inf``)."""
        return {
            "cosine": self.cosine,
            "sqnr_db": self.sqnr_db,
            "min_channel_sqnr_db": self.min_channel_sqnr_db,
            "max_abs_err": self.max_abs_err,
            "mean_abs_err": self.mean_abs_err,
            "max_err_lsb": self.max_err_lsb,
            "lsb": self.lsb,
            "max_abs_float": self.max_abs_float,
            "elements": self.elements,
        }
