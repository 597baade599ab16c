"""Accuracy debugging of a quantized stage: ``python3 tools/quant_analysis.py --config CFG
--stage calibration [--sensitivity] [--topk-int16 K] --out-dir DIR``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.quant_analysis import main  # noqa: E402

if __name__ == "__main__":
    main()
