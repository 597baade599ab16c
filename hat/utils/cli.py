"""Shared command-line plumbing: user errors as one line on stderr, exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable

from hat.registry import BuildError
from hat.utils.checkpoint import CheckpointError
from hat.utils.config_overrides import ConfigError

__all__ = ["ToolError", "USER_ERRORS", "run_cli", "parse_device_ids"]


class ToolError(Exception):
    """A mistake in how a tool was called; printed as one line, no traceback."""


USER_ERRORS: tuple[type[BaseException], ...] = (ToolError, ConfigError, BuildError, CheckpointError)


def run_cli(main: Callable[[], int | None], prog: str) -> None:
    """Run ``main``; user errors print ``prog: error: message`` and exit 1 (Ctrl-C: 130)."""
    try:
        code = main() or 0
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


def parse_device_ids(text: str | None) -> list[int]:
    """``"0,1"`` -> ``[0, 1]``; None/empty -> ``[]``."""
    if not text:
        return []
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ToolError(f"--device-ids expects integers like 0,1; got {text!r}") from None
    if len(set(ids)) != len(ids):
        raise ToolError(f"--device-ids has duplicates: {text!r}")
    return ids
