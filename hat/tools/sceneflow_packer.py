"""Pack a raw SceneFlow split into an LMDB.

    python3 tools/datasets/sceneflow_packer.py --src-data-dir tmp_data/SceneFlow \\
        --split-name train --pack-type lmdb --num-workers 10 --target-data-dir tmp_data/SceneFlow

reads ``<src>/SceneFlow_finalpass_train.txt`` (or ``--data-list``) and writes
``<target>/train_lmdb`` (``<src>/train_lmdb`` without ``--target-data-dir``). The value schema is
documented in :mod:`hat.data.codecs.sceneflow`.
"""

from __future__ import annotations

import argparse
import sys

from hat.data.pack_type import PACK_TYPES
from hat.tools.packer_cli import TARGET_DATA_DIR_HELP, run_packer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Pack a SceneFlow split into an LMDB.")
    parser.add_argument(
        "--src-data-dir", required=True, help="SceneFlow root: subsets and list files"
    )
    parser.add_argument("--split-name", required=True, choices=["train", "test"])
    parser.add_argument(
        "--pack-type", default="lmdb", help=f"storage type; supported: {', '.join(PACK_TYPES)}"
    )
    parser.add_argument("--num-workers", type=int, default=4, help="reader processes (0 = none)")
    parser.add_argument("--target-data-dir", default=None, help=TARGET_DATA_DIR_HELP)
    parser.add_argument(
        "--data-list", default=None, help="a 'left right disp' list to pack instead of the split's"
    )
    parser.add_argument(
        "--img-format",
        default="raw",
        choices=["raw", "png"],
        help="raw: fast reads (default); png: the source PNG files, smaller",
    )
    parser.add_argument("--num-samples", type=int, default=None, help="pack only the first N")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing target")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hat.data.packers.sceneflow import SceneFlowPacker

    return run_packer(parser, args, SceneFlowPacker, "samples", data_list=args.data_list)


if __name__ == "__main__":
    sys.exit(main())
