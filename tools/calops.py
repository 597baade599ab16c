"""Count a model's parameters and FLOPs (wrapper of :mod:`hat.tools.calops`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.calops import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
