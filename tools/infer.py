"""Run a model on the user's files and save pictures (wrapper of :mod:`hat.tools.infer`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.tools.infer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
