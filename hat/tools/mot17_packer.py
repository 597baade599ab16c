"""Pack a MOT17 split (the half split of ``gen_mot_data.py``, or the release) into an LMDB.

    python3 tools/datasets/mot17_packer.py --src-data-dir tmp_data/MOT17/split_data \\
        --split-name train --pack-type lmdb --target-data-dir tmp_data/mot17
    python3 tools/datasets/mot17_packer.py --src-data-dir tmp_data/MOT17/split_data \\
        --split-name test --pack-type lmdb --target-data-dir tmp_data/mot17

writes ``<target>/train_lmdb``, ``<target>/test_lmdb`` and, for the test split, ``<target>/test_gt``
(``<seq>/gt/gt.txt`` + ``seqinfo.ini``, the evaluator's ``gt_dir``). One record per frame; the
value schema is documented in :mod:`hat.data.codecs.mot17`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hat.data.pack_type import PACK_TYPES
from hat.data.readers.mot17_layout import DETECTORS, SPLITS
from hat.tools.packer_cli import TARGET_DATA_DIR_HELP, run_packer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Pack a MOT17 split into an LMDB.")
    parser.add_argument(
        "--src-data-dir", required=True, help="dir holding train/ and test/ (e.g. split_data)"
    )
    parser.add_argument("--split-name", required=True, choices=list(SPLITS))
    parser.add_argument(
        "--pack-type", default="lmdb", help=f"storage type; supported: {', '.join(PACK_TYPES)}"
    )
    parser.add_argument("--num-workers", type=int, default=4, help="reader processes (0 = none)")
    parser.add_argument("--target-data-dir", default=None, help=TARGET_DATA_DIR_HELP)
    parser.add_argument(
        "--img-format", default="jpg", choices=["jpg"], help="jpg: the JPEG files as stored"
    )
    parser.add_argument(
        "--detector",
        default="FRCNN",
        choices=list(DETECTORS),
        help="the copy of each video to pack (the half split keeps FRCNN)",
    )
    parser.add_argument("--num-samples", type=int, default=None, help="pack only the first N")
    parser.add_argument("--overwrite", action="store_true", help="replace existing targets")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hat.data.packers.mot17 import Mot17Packer

    made: list[Mot17Packer] = []

    def make_packer(**kwargs: Any) -> Mot17Packer:
        made.append(Mot17Packer(**kwargs))
        return made[-1]

    code = run_packer(parser, args, make_packer, "frames", detector=args.detector)
    if code == 0 and made and made[0].gt_target is not None:
        copied = sum(seq.has_gt for seq in made[0].sequences)
        print(f"copied the ground truth of {copied} sequences to {made[0].gt_target}")
    return code


if __name__ == "__main__":
    sys.exit(main())
