"""Pack a raw FlyingChairs split into an LMDB.

    python3 tools/datasets/flyingchairs_packer.py --src-data-dir tmp_data/FlyingChairs \\
        --split-name train --pack-type lmdb --num-workers 10

writes ``<src>/train_lmdb`` (``<target>/train_lmdb`` with ``--target-data-dir <target>``, as
for every packer). The value schema is documented in
:mod:`hat.data.codecs.flyingchairs`.
"""

from __future__ import annotations

import argparse
import sys

from hat.data.pack_type import PACK_TYPES
from hat.tools.packer_cli import TARGET_DATA_DIR_HELP, run_packer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Pack a FlyingChairs split into an LMDB.")
    parser.add_argument("--src-data-dir", required=True, help="dir holding FlyingChairs_release/")
    parser.add_argument("--split-name", required=True, choices=["train", "val"])
    parser.add_argument(
        "--pack-type", default="lmdb", help=f"storage type; supported: {', '.join(PACK_TYPES)}"
    )
    parser.add_argument("--num-workers", type=int, default=4, help="reader processes (0 = none)")
    parser.add_argument("--target-data-dir", default=None, help=TARGET_DATA_DIR_HELP)
    parser.add_argument(
        "--img-format", default="raw", choices=["raw", "png"], help="raw: fast reads; png: smaller"
    )
    parser.add_argument("--num-samples", type=int, default=None, help="pack only the first N")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing target")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hat.data.packers.flyingchairs import FlyingChairsPacker

    return run_packer(parser, args, FlyingChairsPacker, "pairs")


if __name__ == "__main__":
    sys.exit(main())
