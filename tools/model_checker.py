"""Thin wrapper: ``python3 tools/model_checker.py --help`` (see hat/tools/model_checker.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.model_checker import main  # noqa: E402

if __name__ == "__main__":
    main()
