"""hat.callbacks builds on hat.engine (the callback protocol lives beside the loop), never the
reverse: each package imports first in a fresh interpreter, and hat.engine loads no callback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from engine_test_helpers import REPO


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("first", ["hat.engine", "hat.callbacks"])
def test_each_package_imports_first_in_a_fresh_interpreter(first):
    result = run_python(f"import {first}; import hat.engine, hat.callbacks")
    assert result.returncode == 0, result.stderr


def test_engine_does_not_import_callbacks_and_protocol_is_re_exported():
    code = (
        "import sys\n"
        "import hat.engine\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('hat.callbacks'))\n"
        "assert not loaded, loaded\n"
        "from hat.callbacks import EVENTS, CallbackMixin\n"
        "from hat.engine.callback import EVENTS as E, CallbackMixin as C\n"
        "assert CallbackMixin is C and EVENTS is E\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
