"""What the running tool knows about the run (stage, config texts), for checkpoints to embed.

Set once by ``hat.tools.train``/``predict``; library code reads it. Outside the tools (tests,
notebooks) the stage falls back to ``HAT_TRAINING_STEP`` and the config texts are empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["RunContext", "get_run_context", "set_run_context", "current_stage", "STAGE_ENV"]

STAGE_ENV = "HAT_TRAINING_STEP"


@dataclass
class RunContext:
    stage: str | None = None
    config_path: str | None = None
    config_text: str = ""  # the resolved config (after --opts), readable Python
    config_source: str = ""  # the original file(s) as written
    overrides: list[str] = field(default_factory=list)


_CONTEXT = RunContext()


def get_run_context() -> RunContext:
    return _CONTEXT


def set_run_context(context: RunContext) -> None:
    global _CONTEXT
    _CONTEXT = context


def current_stage() -> str:
    """The training stage: the tool's ``--stage``, else ``HAT_TRAINING_STEP``, else ``float``."""
    return _CONTEXT.stage or os.environ.get(STAGE_ENV) or "float"
