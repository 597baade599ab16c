"""Evaluate nuScenes detection results (wrapper of :mod:`hat.tools.nuscenes_eval`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.nuscenes_eval import main  # noqa: E402

if __name__ == "__main__":
    main()
