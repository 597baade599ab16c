"""Evaluate MOTChallenge tracker results (wrapper of :mod:`hat.tools.mot_eval`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.mot_eval import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
