"""Thin wrapper: ``python3 tools/compile_perf.py --help`` (see hat/tools/compile_perf.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.compile_perf import main  # noqa: E402

if __name__ == "__main__":
    main()
