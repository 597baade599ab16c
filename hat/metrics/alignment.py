"""Alignment of a deployed model's outputs with the reference integer model's outputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hat.metrics.metric import EvalMetric
from hat.registry import OBJECT_REGISTRY

__all__ = ["AlignmentMetric"]


@OBJECT_REGISTRY.register
class AlignmentMetric(EvalMetric):
    """How exactly deployed outputs (e.g. ONNX Runtime's) reproduce the reference integer
    model's, accumulated over a whole split and over DDP ranks.

    ``update(outputs, references, lsbs=None)`` takes the outputs of one batch as lists of
    tensors in the same order (one per entry of ``output_names``) and the LSB of each output
    (the scale of the quantized tensor it is dequantized from; None: differences count in the
    output's own units, e.g. class maps). Per output it keeps the element count, the count of
    bit-identical elements, of elements identical at LSB resolution
    (``|diff| < lsb_tolerance * LSB``), and the maximum difference in LSBs and in output units
    (maxima are reduced with MAX across ranks, counts with SUM).

    Values (:meth:`get_dict`): ``identical_fraction_bitwise``, ``identical_fraction`` (the
    smallest over outputs), ``max_diff_lsb`` (the largest), and per output
    ``<name>/identical_fraction_bitwise``, ``<name>/identical_fraction``,
    ``<name>/max_diff_lsb``, ``<name>/max_abs_diff``.
    """

    MAX_STATES = ("max_lsb", "max_abs")

    def __init__(
        self, output_names: Sequence[str], lsb_tolerance: float = 0.01, name: str = "alignment"
    ) -> None:
        self.output_names = [str(n) for n in output_names]
        if not self.output_names:
            raise ValueError("AlignmentMetric: output_names is empty")
        self.lsb_tolerance = float(lsb_tolerance)
        per = [
            f"{n}/{k}"
            for n in self.output_names
            for k in ("identical_fraction_bitwise", "identical_fraction", "max_diff_lsb")
        ] + [f"{n}/max_abs_diff" for n in self.output_names]
        super().__init__(["identical_fraction_bitwise", "identical_fraction", "max_diff_lsb", *per])
        k = len(self.output_names)
        for state in ("elements", "bit_identical", "lsb_identical", *self.MAX_STATES):
            self.add_state(state, torch.zeros(k, dtype=torch.float64))
        self.lsbs: list[float | None] = [None] * k

    @torch.no_grad()
    def update(
        self,
        outputs: Sequence[torch.Tensor],
        references: Sequence[torch.Tensor],
        lsbs: Sequence[float | None] | None = None,
    ) -> None:
        k = len(self.output_names)
        if len(outputs) != k or len(references) != k:
            raise ValueError(
                f"AlignmentMetric: expected {k} outputs {self.output_names}, got "
                f"{len(outputs)} outputs and {len(references)} references"
            )
        if lsbs is not None:
            self.lsbs = [None if v is None else float(v) for v in lsbs]
        for i, (y, ref) in enumerate(zip(outputs, references)):
            y, ref = torch.as_tensor(y).cpu(), torch.as_tensor(ref).cpu()
            if y.shape != ref.shape:
                raise ValueError(
                    f"AlignmentMetric: output {self.output_names[i]}: shape {tuple(y.shape)} vs "
                    f"reference {tuple(ref.shape)}"
                )
            d = (y.to(torch.float64) - ref.to(torch.float64)).abs()
            dl = d / (self.lsbs[i] or 1.0)
            self.elements[i] += d.numel()
            self.bit_identical[i] += float((y == ref).sum())
            self.lsb_identical[i] += float((dl < self.lsb_tolerance).sum())
            if d.numel():
                self.max_abs[i] = max(float(self.max_abs[i]), float(d.max()))
                self.max_lsb[i] = max(float(self.max_lsb[i]), float(dl.max()))

    def compute(self) -> list[float]:
        if float(self.elements.min()) == 0:
            raise RuntimeError("AlignmentMetric: no elements compared (call update first)")
        bitwise = (self.bit_identical / self.elements).tolist()
        lsb = (self.lsb_identical / self.elements).tolist()
        max_lsb, max_abs = self.max_lsb.tolist(), self.max_abs.tolist()
        per = [v for i in range(len(bitwise)) for v in (bitwise[i], lsb[i], max_lsb[i])]
        return [min(bitwise), min(lsb), max(max_lsb), *per, *max_abs]

    def output_report(self) -> dict[str, dict[str, float | None]]:
        """Per output: elements, the three fractions/maxima, max_abs_diff and the LSB."""
        values = self.get_dict()
        out = {}
        for i, n in enumerate(self.output_names):
            out[n] = {
                "elements": int(self._synced_states()["elements"][i]),
                "identical_fraction_bitwise": values[f"{n}/identical_fraction_bitwise"],
                "identical_fraction": values[f"{n}/identical_fraction"],
                "max_diff_lsb": values[f"{n}/max_diff_lsb"],
                "max_abs_diff": values[f"{n}/max_abs_diff"],
                "lsb": self.lsbs[i],
            }
        return out
