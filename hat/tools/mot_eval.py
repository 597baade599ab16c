"""Evaluate MOTChallenge tracker results: CLEAR MOT, identity and HOTA per sequence and overall.

    python3 tools/mot_eval.py --gt-dir G --res-dir R [--fmt mot15-2D|mot16|mot17] \\
        [--output metrics.json]

``G`` holds ``<seq>/gt/gt.txt`` (and ``<seq>/seqinfo.ini``), ``R`` holds ``<seq>.txt`` (the
layout of motmetrics' ``eval_motchallenge``). Every sequence of ``G`` is evaluated with the
MOTChallenge preprocessing (:mod:`hat.metrics.mot`); CLEAR/identity values follow motmetrics,
HOTA follows TrackEval, and neither package is needed. Prints a table (one row per sequence and
OVERALL: summed counts as motmetrics' OVERALL row, HOTA combined as TrackEval's COMBINED_SEQ)
and writes every value as JSON (non-finite values as null).
"""

from __future__ import annotations

import argparse
import json
import math
import os

from hat.metrics.mot.evaluate import evaluate_dirs, format_table
from hat.metrics.mot.io import FORMATS
from hat.utils.cli import ToolError, run_cli

__all__ = ["main", "parse_args", "run"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mot_eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gt-dir", required=True, help="folder of <seq>/gt/gt.txt")
    parser.add_argument("--res-dir", required=True, help="folder of <seq>.txt result files")
    parser.add_argument("--fmt", default="mot17", choices=FORMATS, help="ground-truth format")
    parser.add_argument("--output", default=None, metavar="JSON", help="write the values here")
    return parser.parse_args(argv)


def _json_safe(value: float | int) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    if not os.path.isdir(args.res_dir):
        raise ToolError(f"--res-dir {args.res_dir}: not a folder")
    table, _ = evaluate_dirs(args.gt_dir, args.res_dir, args.fmt)
    print(format_table(table))
    if args.output:
        doc = {
            "gt_dir": os.path.abspath(args.gt_dir),
            "res_dir": os.path.abspath(args.res_dir),
            "fmt": args.fmt,
            "sequences": {
                name: {k: _json_safe(v) for k, v in scores.items()}
                for name, scores in table.items()
            },
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, allow_nan=False)
            f.write("\n")
        print(f"metrics written to {args.output}")
    return table


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run_cli(lambda: (run(args), 0)[1], "mot_eval")


if __name__ == "__main__":
    main()
