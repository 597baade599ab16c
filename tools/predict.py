"""Evaluate a stage of a config: ``python3 tools/predict.py --stage float --config CFG``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.predict import main  # noqa: E402

if __name__ == "__main__":
    main()
