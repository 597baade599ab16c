"""What every dataset packer command does after parsing: check the pack type, build the packer,
run it, report (a clear one-line error and nothing written on bad input).

Ctrl-C and SIGTERM stop a pack the same way: the temporary LMDB is removed, one line is printed
(no traceback) and the exit code is 130 / 143. A pack killed outright (SIGKILL) leaves its
temporary directory, which the next pack of the same target removes (and says so)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from hat.data.errors import CorruptFileError
from hat.data.pack_type import PACK_TYPES
from hat.utils.termination import handle_sigterm

__all__ = ["run_packer", "TARGET_DATA_DIR_HELP"]

#: ``--target-data-dir`` means the same for every packer (``hat.data.packers.target``).
TARGET_DATA_DIR_HELP = (
    "directory that receives <split>_lmdb (default: --src-data-dir); a path already named "
    "<split>_lmdb is the LMDB itself"
)


def run_packer(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    make_packer: Callable[..., Any],
    unit: str,
    **extra: Any,
) -> int:
    """``make_packer(src_data_dir=..., target_data_dir=..., split_name=..., num_workers=...,
    pack_type=..., img_format=..., overwrite=..., num_samples=..., **extra)()``; returns the
    exit code and prints ``packed N <split> <unit> into <target>``."""
    if args.pack_type.lower() not in PACK_TYPES:
        parser.error(
            f"unsupported --pack-type {args.pack_type!r}: supported: {', '.join(PACK_TYPES)}"
        )
    _report_warnings()
    handle_sigterm()
    start = time.perf_counter()
    try:
        packer = make_packer(
            src_data_dir=args.src_data_dir,
            target_data_dir=args.target_data_dir,
            split_name=args.split_name,
            num_workers=args.num_workers,
            pack_type=args.pack_type,
            img_format=args.img_format,
            overwrite=args.overwrite,
            num_samples=args.num_samples,
            **extra,
        )
        count = packer()
    except (FileNotFoundError, FileExistsError, CorruptFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written to the target", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (hat.utils.termination.Terminated)
        print(f"\n{str(exc) or 'interrupted'}: nothing was written to the target", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    secs = time.perf_counter() - start
    print(f"packed {count} {args.split_name} {unit} into {packer.target} in {secs:.1f} s")
    return 0


def _report_warnings() -> None:
    """Print the data layer's warnings (e.g. leftovers of killed packs removed) as plain lines."""
    data_logger = logging.getLogger("hat.data")
    if not data_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        data_logger.addHandler(handler)
        data_logger.setLevel(logging.WARNING)
