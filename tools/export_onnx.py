"""Thin wrapper: ``python3 tools/export_onnx.py --help`` (see hat/tools/export_onnx.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.export_onnx import main  # noqa: E402

if __name__ == "__main__":
    main()
