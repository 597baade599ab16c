"""HAT's ``tools/compile_perf.py -c CFG --opt 2``: the compile/perf report of
:mod:`hat.tools.compile_perf_hbir` under the name and options of HAT's tutorials.

``--opt`` is the optimisation level HAT hands to Horizon's closed compiler (0-3). ONNX Runtime,
which stands in for it here, always optimises the exported file fully (the saved graph at
EXTENDED, the timed session at ALL), so the level is checked and reported but does not change
the result. Every other option is compile_perf_hbir's (``--runs``, ``--threads``, ...).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "split_opt"]
PROG = "hat-compile-perf"
OPT_LEVELS = (0, 1, 2, 3)


def split_opt(argv: list[str]) -> tuple[int | None, list[str]]:
    """``(--opt value or None, the other arguments)``; a bad level exits with usage."""
    p = argparse.ArgumentParser(prog=PROG, add_help=False)
    p.add_argument("--opt", type=int, choices=OPT_LEVELS, default=None)
    args, rest = p.parse_known_args(argv)
    return args.opt, rest


def main(argv: list[str] | None = None) -> None:
    from hat.tools.compile_perf_hbir import main as perf_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print(__doc__)
    opt, rest = split_opt(argv)
    if opt is not None:
        print(f"--opt {opt}: ONNX Runtime optimises fully whatever the level (see --help)")
    perf_main(rest)


if __name__ == "__main__":
    main()
