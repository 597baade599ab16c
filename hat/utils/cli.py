"""Shared command-line plumbing: the common arguments, user errors as one line, exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from hat.errors import UserInputError
from hat.registry import BuildError
from hat.utils.checkpoint import CheckpointError
from hat.utils.config_overrides import ConfigError

__all__ = ["ToolError", "USER_ERRORS", "run_cli", "parse_device_ids", "add_config_args"]


class ToolError(Exception):
    """A mistake in how a tool was called; printed as one line, no traceback."""


# Library errors that mean "the user's input is wrong"; the tools print them as one line.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ToolError,
    ConfigError,
    BuildError,
    CheckpointError,
    UserInputError,
)

OPTS_HELP = "override config values: dotted keys, list indices, Python literals"


def add_config_args(
    parser: argparse.ArgumentParser, ckpt: str | None = None
) -> argparse.ArgumentParser:
    """Add the arguments every tool shares: ``--config/-c`` and ``--opts KEY VALUE ...``; and
    ``--ckpt PATH`` when ``ckpt`` (its help text) is given."""
    parser.add_argument("--config", "-c", required=True, help="path to the Python config file")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE", help=OPTS_HELP)
    if ckpt is not None:
        parser.add_argument("--ckpt", default=None, metavar="PATH", help=ckpt)
    return parser


def run_cli(main: Callable[[], int | None], prog: str) -> None:
    """Run ``main``; user errors print ``prog: error: message`` and exit 1 (Ctrl-C: 130,
    SIGTERM where the tool handles it: 143)."""
    try:
        code = main() or 0
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt as exc:  # Ctrl-C; or SIGTERM as hat.utils.termination.Terminated
        print(f"{prog}: {str(exc) or 'interrupted'}", file=sys.stderr)
        code = getattr(exc, "exit_code", 130)
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
