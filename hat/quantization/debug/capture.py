"""Which modules of a quantized model are compared, and how their outputs are read.

``prepare_qat`` swaps each quantizable float module for a QAT module *at the same name*
(``ConvModule2d`` with its BN folded stays ``backbone.x.conv``; its ``conv``/``norm`` children
live on inside the QAT module), and ``convert`` swaps each QAT module for its integer module at
that name again. Those swapped modules (``_hat_qat`` / ``_hat_int``) are the *units* here: each
has exactly one float counterpart of the same name in the float model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from hat.quantization.fake_quantize import FakeQuantize
from hat.quantization.qtensor import QTensor, plain

__all__ = [
    "quantized_units",
    "output_fake_quant",
    "real_values",
    "output_lsb",
    "flatten_tensors",
    "OutputRecorder",
]


def quantized_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every module ``prepare_qat``/``convert`` swapped in, in
    registration order (outer units only: nothing inside a unit is listed)."""
    units: list[tuple[str, nn.Module]] = []

    def walk(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            if getattr(child, "_hat_qat", False) or getattr(child, "_hat_int", False):
                units.append((full, child))
            else:
                walk(child, full)

    walk(model, "")
    return units


def output_fake_quant(unit: nn.Module) -> FakeQuantize | None:
    """The unit's output FakeQuantize (None: no own output scale, e.g. nearest resize, ReLU,
    a high-precision conv, DeQuantStub)."""
    fq = getattr(unit, "activation_post_process", None)
    return fq if isinstance(fq, FakeQuantize) else None


def real_values(x: torch.Tensor) -> torch.Tensor:
    """The real (dequantized) float32 values of a module output: integer QTensors become
    ``(q - zero_point) * scale``; fake-quant QTensors and float tensors are already real."""
    data = plain(x).detach()
    if isinstance(x, QTensor) and not data.dtype.is_floating_point:
        zp = plain(x.q_zero_point).to(torch.float32)
        return (data.to(torch.float32) - zp) * plain(x.q_scale).to(torch.float32)
    return data.to(torch.float32)


def output_lsb(output: torch.Tensor, inputs: tuple[Any, ...], module: nn.Module) -> float | None:
    """The quantization step of an output: its own scale for a QTensor; for a DeQuantStub the
    scale of the tensor it dequantizes; None for other float outputs."""
    if isinstance(output, QTensor):
        return float(plain(output.q_scale).reshape(-1)[0])
    if "dequant" in type(module).__name__.lower() and inputs and isinstance(inputs[0], QTensor):
        return float(plain(inputs[0].q_scale).reshape(-1)[0])
    return None


def flatten_tensors(data: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``(path, tensor)`` for every tensor in nested dicts/lists/tuples (``""`` for a bare
    tensor, ``"[1]"``, ``".flow"`` ... otherwise)."""
    if isinstance(data, torch.Tensor):
        yield prefix, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from flatten_tensors(v, f"{prefix}.{k}")
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            yield from flatten_tensors(v, f"{prefix}[{i}]")


# (key, module, output tensor, lsb or None) -> None
OutputHook = Callable[[str, nn.Module, torch.Tensor, "float | None"], None]


class OutputRecorder:
    """Calls ``hook(key, module, tensor, lsb)`` for every tensor output of the modules
    ``names`` of ``model`` while used as a context manager.

    ``key`` is the module name (``name#k`` for its k-th call after the first, counted from the
    last :meth:`new_forward`), plus the tensor's path for nested outputs. Names missing in
    ``model`` are ignored (``missing`` lists them).
    """

    def __init__(self, model: nn.Module, names: list[str], hook: OutputHook) -> None:
        modules = dict(model.named_modules())
        self.missing = [n for n in names if n not in modules]
        self._targets = [(n, modules[n]) for n in names if n in modules]
        self._hook = hook
        self._calls: dict[str, int] = {}
        self._handles: list[Any] = []

    def new_forward(self) -> None:
        """Start counting calls afresh (call before each forward pass)."""
        self._calls.clear()

    def _make(self, name: str) -> Callable[..., None]:
        def fn(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            k = self._calls.get(name, 0)
            self._calls[name] = k + 1
            base = name if k == 0 else f"{name}#{k}"
            for path, t in flatten_tensors(output):
                self._hook(base + path, module, t, output_lsb(t, inputs, module))

        return fn

    def __enter__(self) -> OutputRecorder:
        self._handles = [m.register_forward_hook(self._make(n)) for n, m in self._targets]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
