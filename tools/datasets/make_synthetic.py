"""Thin wrapper: see :mod:`hat.tools.make_synthetic`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from hat.tools.make_synthetic import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
