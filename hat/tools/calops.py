"""Count a model's parameters and operations: ``python3 tools/calops.py --config CFG``.

The counting is :mod:`hat.utils.op_count`; this module parses the arguments and prints.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hat.utils.cli import ToolError, add_config_args, run_cli
from hat.utils.op_count import count_ops, param_counts
from hat.utils.run_config import ConfigKeyError, RunConfig

__all__ = ["build_model", "main", "parse_input_shape"]

DESCRIPTION = """\
Build `model` from a config and count its parameters and operations on one input.

FLOPs are reported as multiply-accumulates (MACs), the convention of HAT's calops, fvcore and
thop: one multiply-add counts once ("FLOPs: Y G" means Y * 1e9 MACs; the line below it gives
2 x MACs, the count of separate multiplies and adds). Counted: convolutions, linear layers,
matmuls (torch.utils.flop_counter) and the correlation cost volume of hat.nn.Correlation
(B * (2md+1)^2 * C * H * W MACs, counted by hooks: its float kernel's banded matmuls compute
extra products that are not part of the operation).
Not counted: element-wise ops (BN, activations, adds), resizes and grid_sample warps.

The input is the config's `deploy_inputs` (dict of name -> shape or tensor) unless
--input-shape is given.
"""


def build_model(config: RunConfig) -> nn.Module:
    """Build the config's ``model`` with the registry (errors name the config and the key)."""
    from hat.registry import build_from_registry

    return build_from_registry(config.model_spec(), "model")


def parse_input_shape(text: str, default_name: str = "img") -> dict[str, tuple[int, ...]]:
    """``"1,6,384,512"`` or ``"img:1,6,384,512"`` (several separated by ``;``) -> shapes."""
    shapes = {}
    for part in text.split(";"):
        name, _, dims = part.strip().rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not shape or any(d <= 0 for d in shape):
            raise ToolError(f"bad --input-shape {text!r}; expected e.g. 1,6,384,512")
        shapes[name or default_name] = shape
    return shapes


def make_inputs(spec: Any) -> dict[str, torch.Tensor]:
    """Model inputs from ``deploy_inputs``-style specs (name -> shape or tensor)."""
    if isinstance(spec, torch.Tensor):
        return {"img": spec}
    if not isinstance(spec, Mapping):
        raise ToolError(f"deploy_inputs must be a dict of name -> shape or tensor, got {spec!r}")
    inputs = {}
    for name, value in spec.items():
        if isinstance(value, torch.Tensor):
            inputs[name] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(d, int) for d in value):
            inputs[name] = torch.randn(tuple(value))
        else:
            raise ToolError(f"deploy_inputs[{name!r}] must be a shape or a tensor, got {value!r}")
    return inputs


def _print_breakdown(model: nn.Module, macs: dict[str, int], depth: int) -> None:
    params = param_counts(model)
    rows = [
        (name, params.get(name, 0), macs.get(name, 0))
        for name in params
        if name.count(".") <= depth and (macs.get(name, 0) or params.get(name, 0))
    ]
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'module':<{width}}  {'params (M)':>11}  {'FLOPs (G)':>12}")
    for name, p, m in rows:
        indent = "  " * name.count(".")
        print(f"{indent + name.rsplit('.', 1)[-1]:<{width}}  {p / 1e6:>11.4f}  {m / 1e9:>12.6f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="calops",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(parser)
    parser.add_argument(
        "--input-shape",
        default=None,
        help="input shape in B,C,H,W order, e.g. 1,6,384,512 (optionally NAME:B,C,H,W; "
        "default: the config's deploy_inputs)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="per-module breakdown")
    parser.add_argument("--depth", type=int, default=3, help="breakdown depth with --verbose")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    config = RunConfig.load(args.config, opts=args.opts)
    model = build_model(config)
    if args.input_shape:
        inputs = make_inputs(parse_input_shape(args.input_shape))
    else:
        try:
            inputs = make_inputs(config.deploy_inputs())
        except ConfigKeyError as exc:
            raise ToolError(f"{exc}; or pass --input-shape") from None
    try:
        macs = count_ops(model, inputs)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        shapes = {k: tuple(v.shape) for k, v in inputs.items()}
        raise ToolError(f"model forward failed on inputs {shapes}: {exc}") from exc
    total_params = sum(p.numel() for p in model.parameters())
    total = macs.get("Global", 0)
    print(f"Input: {', '.join(f'{k}={tuple(v.shape)}' for k, v in inputs.items())}")
    print(f"Params: {total_params / 1e6:.4f} M")
    print(f"FLOPs: {total / 1e9:.4f} G")
    print(f"(FLOPs = multiply-accumulates; 2 x MACs = {2 * total / 1e9:.4f} G)")
    if args.verbose:
        _print_breakdown(model, macs, args.depth)
        root = type(model).__name__
        other = total - macs.get(root, 0)
        if other:
            print(f"(ops outside leaf modules: {other / 1e9:.4f} G)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run_cli(lambda: (run(args), 0)[1], "calops")


if __name__ == "__main__":
    main()
