"""Pack a raw Cityscapes split into an LMDB.

    python3 tools/datasets/cityscapes_packer.py --src-data-dir tmp_data/cityscapes \\
        --split-name train --pack-type lmdb [--num-workers 4]

writes ``<src>/train_lmdb`` (``<target>/train_lmdb`` with ``--target-data-dir <target>``, as
for every packer). The value schema is documented in
:mod:`hat.data.codecs.cityscapes`: the image and the raw labelIds PNG, not remapped.
"""

from __future__ import annotations

import argparse
import sys

from hat.data.pack_type import PACK_TYPES
from hat.tools.packer_cli import TARGET_DATA_DIR_HELP, run_packer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Pack a Cityscapes split into an LMDB.")
    parser.add_argument(
        "--src-data-dir", required=True, help="dir holding leftImg8bit/ and gtFine/"
    )
    parser.add_argument("--split-name", required=True, choices=["train", "val", "test"])
    parser.add_argument(
        "--pack-type", default="lmdb", help=f"storage type; supported: {', '.join(PACK_TYPES)}"
    )
    parser.add_argument("--num-workers", type=int, default=4, help="reader processes (0 = none)")
    parser.add_argument("--target-data-dir", default=None, help=TARGET_DATA_DIR_HELP)
    parser.add_argument(
        "--img-format",
        default="png",
        choices=["png", "raw"],
        help="png: the source file's bytes (default, small); raw: decoded RGB (3x larger)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="reject images of any other size (e.g. 1024 2048)",
    )
    parser.add_argument("--num-samples", type=int, default=None, help="pack only the first N")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing target")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hat.data.packers.cityscapes import CityscapesPacker

    return run_packer(
        parser,
        args,
        CityscapesPacker,
        "images",
        image_size=tuple(args.image_size) if args.image_size else None,
    )


if __name__ == "__main__":
    sys.exit(main())
