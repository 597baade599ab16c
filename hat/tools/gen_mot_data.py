"""Split MOT17's train sequences in halves (train / validation), as HAT's MOTR recipe does.

    python3 tools/dataset_converters/gen_mot_data.py --src-data-path MOT17 \\
        --out-dir MOT17/split_data [--detector FRCNN] [--overwrite]

Writes ``<out>/train/MOT17-XX-FRCNN`` (first half of the frames) and ``<out>/test/...`` (second
half), renumbered from 1 with gt, det and seqinfo rewritten; see :mod:`hat.data.mot17_half_split`.
"""

from __future__ import annotations

import argparse
import sys
import time

from hat.data.mot17_half_split import SequenceSplit, make_half_split
from hat.errors import UserInputError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--src-data-path", required=True, help="MOT17 root holding train/MOT17-XX-<detector>/"
    )
    parser.add_argument(
        "--out-dir", default=None, help="output folder (default: <src-data-path>/split_data)"
    )
    parser.add_argument(
        "--detector", default="FRCNN", help="which detector copy to split (default FRCNN)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out-dir")
    return parser


def _print_sequence(s: SequenceSplit) -> None:
    total = s.frames["train"] + s.frames["test"]
    print(
        f"{s.name}: {total} frames -> train {s.frames['train']} (gt {s.gt_rows['train']} rows), "
        f"test {s.frames['test']} (gt {s.gt_rows['test']} rows)"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out_dir = args.out_dir or f"{args.src_data_path.rstrip('/')}/split_data"
    start = time.perf_counter()
    try:
        results = make_half_split(
            args.src_data_path, out_dir, args.detector, args.overwrite, progress=_print_sequence
        )
    except (FileNotFoundError, FileExistsError, UserInputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(f"nothing was written to {out_dir}", file=sys.stderr)
        return 1
    linked = sum(r.linked for r in results)
    copied = sum(r.copied for r in results)
    print(
        f"wrote {len(results)} sequences to {out_dir} ({linked} images hard-linked, {copied} "
        f"copied) in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
