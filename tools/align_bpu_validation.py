"""Thin wrapper: ``python3 tools/align_bpu_validation.py --help`` (hat/tools/, same name)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.align_bpu_validation import main  # noqa: E402

if __name__ == "__main__":
    main()
