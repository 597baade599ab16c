"""Thin wrapper: ``python3 tools/validation_hbir.py --help`` (see hat/tools/validation_hbir.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.validation_hbir import main  # noqa: E402

if __name__ == "__main__":
    main()
