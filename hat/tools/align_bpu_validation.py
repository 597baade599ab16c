"""HAT's ``tools/align_bpu_validation.py --config CFG``: the on-board style accuracy check,
i.e. ``tools/validation_hbir.py --stage align_bpu`` (see its ``--help``)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    from hat.tools.validation_hbir import main as validation_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--stage" not in argv:
        argv = ["--stage", "align_bpu", *argv]
    validation_main(argv)


if __name__ == "__main__":
    main()
