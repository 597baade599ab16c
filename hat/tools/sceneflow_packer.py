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
import time

from hat.data.errors import CorruptFileError
from hat.data.pack_type import PACK_TYPES


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
    parser.add_argument(
        "--target-data-dir", default=None, help="receives <split>_lmdb; default: the source dir"
    )
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
    args = build_parser().parse_args(argv)
    if args.pack_type.lower() not in PACK_TYPES:
        build_parser().error(
            f"unsupported --pack-type {args.pack_type!r}: supported: {', '.join(PACK_TYPES)}"
        )
    from hat.data.packers.sceneflow import SceneFlowPacker

    start = time.perf_counter()
    try:
        packer = SceneFlowPacker(
            src_data_dir=args.src_data_dir,
            target_data_dir=args.target_data_dir,
            split_name=args.split_name,
            num_workers=args.num_workers,
            pack_type=args.pack_type,
            img_format=args.img_format,
            overwrite=args.overwrite,
            num_samples=args.num_samples,
            data_list=args.data_list,
        )
        count = packer()
    except (FileNotFoundError, FileExistsError, CorruptFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written to the target", file=sys.stderr)
        return 1
    secs = time.perf_counter() - start
    print(f"packed {count} {args.split_name} samples into {packer.target} in {secs:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
