"""Pack a nuScenes split into an LMDB.

    python3 tools/datasets/nuscenes_packer.py --src-data-dir tmp_data/nuscenes_raw \\
        --pack-type lmdb --target-data-dir tmp_data/nuscenes --version v1.0-trainval \\
        --split-name train [--num-workers 4]

writes ``<target>/v1.0-trainval/train_lmdb`` (one record per key frame, schema
:mod:`hat.data.codecs.nuscenes`) and ``<target>/metas`` (the map-expansion JSONs the
map-segmentation targets read).
"""

from __future__ import annotations

import argparse
import sys

from hat.data.pack_type import PACK_TYPES
from hat.tools.packer_cli import run_packer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Pack a nuScenes split into an LMDB.")
    parser.add_argument(
        "--src-data-dir", required=True, help="nuScenes dataroot (samples/, maps/, <version>/)"
    )
    parser.add_argument(
        "--target-data-dir",
        required=True,
        help="directory that receives <version>/<split>_lmdb and metas/",
    )
    parser.add_argument(
        "--version", default="v1.0-trainval", help="table folder, e.g. v1.0-trainval, v1.0-mini"
    )
    parser.add_argument(
        "--split-name",
        required=True,
        help="train, val, test, mini_train, mini_val, or a split of <version>/splits.json",
    )
    parser.add_argument(
        "--pack-type", default="lmdb", help=f"storage type; supported: {', '.join(PACK_TYPES)}"
    )
    parser.add_argument("--num-workers", type=int, default=4, help="reader processes (0 = none)")
    parser.add_argument(
        "--img-format", default="jpg", choices=["jpg"], help="jpg: the camera files as stored"
    )
    parser.add_argument("--num-samples", type=int, default=None, help="pack only the first N")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing target")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hat.data.packers.nuscenes import NuscenesPacker

    return run_packer(parser, args, NuscenesPacker, "key frames", version=args.version)


if __name__ == "__main__":
    sys.exit(main())
