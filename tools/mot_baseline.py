"""IoU-tracker baseline on MOT17's public detections (wrapper of :mod:`hat.tools.mot_baseline`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.mot_baseline import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
