"""The ``hat`` logger: console plus an optional file, rank-aware.

Rank 0 logs at INFO; other ranks log warnings and errors only (tagged with their rank), so a
multi-process run prints one progress stream. Tools call :func:`init_logger` once; library code
uses ``logging.getLogger(__name__)`` (children of ``hat``).
"""

from __future__ import annotations

import logging
import os
import sys
import time

__all__ = ["init_logger", "default_log_path", "LOGGER_NAME"]

LOGGER_NAME = "hat"
_FORMAT = "%(asctime)s %(levelname)s [rank{rank}] %(name)s: %(message)s"


def default_log_path(tool: str, config_path: str, stage: str, timestamp: str | None = None) -> str:
    """``.hat_logs/{tool}-{config name}-{stage}-{timestamp}.log`` relative to the cwd."""
    cfg_name = os.path.splitext(os.path.basename(config_path))[0]
    timestamp = timestamp or time.strftime("%Y%m%d-%H%M%S")
    return os.path.join(".hat_logs", f"{tool}-{cfg_name}-{stage}-{timestamp}.log")


def init_logger(
    log_file: str | None = None, rank: int = 0, level: int = logging.INFO
) -> logging.Logger:
    """(Re)configure the ``hat`` logger; rank 0 also writes ``log_file`` when given."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if getattr(handler, "_hat_handler", False):
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(level if rank == 0 else logging.WARNING)
    logger.propagate = False
    formatter = logging.Formatter(_FORMAT.format(rank=rank), datefmt="%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file and rank == 0:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._hat_handler = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger
