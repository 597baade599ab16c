"""Check that a model can run as an integer model: ``tools/model_checker.py --config CFG``.

Builds the quantized deploy model from the config's float ``model`` (or ``deploy_model``; no
checkpoint needed: one calibration pass on ``deploy_inputs``), exports it to QDQ ONNX and lets
ONNX Runtime optimise it (EXTENDED). Prints every module with how it will run (integer kernel,
data movement, or float island with the reason, as each integer module declares it) and its
MACs, the float islands and the share of MACs outside float islands, and flags: Conv-BN pairs
left unfused, modules called more than once per forward (they would share one output scale),
quantizable ops without a qconfig, model inputs that are not quantized, and float compute in
ORT's graph where a module declares integer. Exit status 0: integer model; 2: it cannot run as
one (reasons printed). The check itself is :func:`hat.quantization.checker.check_model`.
"""

from __future__ import annotations

import argparse
import sys

from hat.tools.deploy_common import deploy_parser, write_json
from hat.utils.cli import add_config_args, run_cli
from hat.utils.run_config import RunConfig

__all__ = ["main"]
PROG = "hat-model-checker"


def build_parser() -> argparse.ArgumentParser:
    p = deploy_parser(PROG, __doc__)
    add_config_args(p)
    p.add_argument(
        "--min-integer-share",
        type=float,
        default=0.95,
        help="fail below this share of MACs outside float islands (default 0.95)",
    )
    p.add_argument("--quiet", action="store_true", help="do not list every module")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the report as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    from hat.quantization.checker import check_model
    from hat.registry import build_from_registry

    config = RunConfig.load(args.config, "int_infer", args.opts)
    key, spec = config.deploy_model_spec()  # the network that ships
    model = build_from_registry(spec, key).eval()
    report = check_model(model, config.deploy_inputs(), args.min_integer_share)
    print(report.render_text(rows=not args.quiet))
    if args.json:
        write_json(args.json, report.to_dict())
    if not report.ok:
        print(
            f"{PROG}: error: the model cannot run as an integer model "
            f"({len(report.problems)} problem(s), see above)",
            file=sys.stderr,
        )
        return 2
    return 0


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda: run(build_parser().parse_args(argv)), PROG)


if __name__ == "__main__":
    main()
