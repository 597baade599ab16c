"""Thin wrapper around :mod:`hat.tools.compile_perf_hbir` (see its ``--help``)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.compile_perf_hbir import main  # noqa: E402

if __name__ == "__main__":
    main()
