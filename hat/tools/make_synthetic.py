"""Generate synthetic stand-ins for the public datasets, in their raw on-disk layouts.

    python3 tools/datasets/make_synthetic.py flyingchairs --out tmp_data/FlyingChairs \\
        --num-pairs 640 --seed 0 [--height 384 --width 512 --val-fraction 0.2]

    python3 tools/datasets/make_synthetic.py cityscapes --out tmp_data/cityscapes \\
        --num-train 600 --num-val 100 --seed 0 [--height 256 --width 512]

    python3 tools/datasets/make_synthetic.py sceneflow --out tmp_data/SceneFlow \
        --num-train 800 --num-test 100 --seed 0 [--height 320 --width 576 --max-disp 64]

    python3 tools/datasets/make_synthetic.py mot17 --out tmp_data/MOT17 --num-seqs 7 --seed 0 \
        [--num-test-seqs 7 --frames 600 --image-scale 1.0]

    python3 tools/datasets/make_synthetic.py nuscenes --out tmp_data/nuscenes_raw \
        --version v1.0-trainval --num-train-scenes 8 --num-val-scenes 2 --seed 0 \
        [--frames-per-scene 40 --image-size 1600x900]

One subcommand per dataset; add a ``_add_<name>`` function and list it in ``_DATASETS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

_COMMON_OPTIONS = ("seed", "height", "width", "num_workers", "overwrite")


def _add_common_options(
    p: argparse.ArgumentParser, *, height: int, width: int, overwrite_help: str
) -> None:
    """Options every generator takes: seed, image size, worker processes, overwrite."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height", type=int, default=height)
    p.add_argument("--width", type=int, default=width)
    p.add_argument("--num-workers", type=int, default=0, help="processes (0 = this one)")
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)


def _generator_kwargs(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The generator's keyword arguments: the common options plus ``names``, from ``args``."""
    return {name: getattr(args, name) for name in (*_COMMON_OPTIONS, *names)}


def _report(
    args: argparse.Namespace,
    summary: dict[str, Any],
    counts: str,
    max_ratio: float | None = None,
) -> int:
    """Print what was written (or that nothing was to do) and judge the self-check if asked.

    ``max_ratio`` is the worst warped/unwarped error ratio a reconstructing pair may have;
    a self-check above it fails the command (exit code 1).
    """
    if summary["skipped"]:
        print(f"{args.out} already holds these {counts}; nothing to do (--overwrite regenerates)")
        return 0
    print(f"wrote {counts} ({args.width}x{args.height}) to {args.out}")
    if max_ratio is None or not args.self_check:
        return 0
    print(
        f"self-check: warped/unwarped error ratio mean {summary['mean_ratio']:.3f}, "
        f"worst {summary['max_ratio']:.3f}; mean warp error {summary['mean_warp_mae']:.2f} "
        "grey levels"
    )
    if summary["max_ratio"] > max_ratio:
        print("self-check FAILED: some pair does not reconstruct", file=sys.stderr)
        return 1
    return 0


def _add_flyingchairs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flyingchairs", help="synthetic FlyingChairs (ppm pairs + exact .flo flow)")
    p.add_argument("--out", required=True, help="output root, e.g. tmp_data/FlyingChairs")
    p.add_argument("--num-pairs", type=int, required=True)
    _add_common_options(p, height=384, width=512, overwrite_help="replace existing generated pairs")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument(
        "--max-translation", type=float, default=20.0, help="px at 512 px width (scaled with it)"
    )
    p.add_argument(
        "--self-check", action="store_true", help="check every pair: warping img2 gives img1"
    )
    p.set_defaults(run=_run_flyingchairs)


def _run_flyingchairs(args: argparse.Namespace) -> int:
    from hat.data.synthetic.flyingchairs import make_flyingchairs

    summary = make_flyingchairs(
        args.out,
        **_generator_kwargs(args, "num_pairs", "val_fraction", "max_translation", "self_check"),
    )
    counts = f"{summary['pairs']} pairs ({summary['train']} train, {summary['val']} val)"
    return _report(args, summary, counts, max_ratio=0.2)


def _add_cityscapes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cityscapes", help="synthetic Cityscapes (street scenes, labelIds/instanceIds/color)"
    )
    p.add_argument("--out", required=True, help="output root, e.g. tmp_data/cityscapes")
    p.add_argument("--num-train", type=int, required=True)
    p.add_argument("--num-val", type=int, required=True)
    p.add_argument("--num-test", type=int, default=0)
    _add_common_options(
        p, height=256, width=512, overwrite_help="replace an existing generated tree"
    )
    p.set_defaults(run=_run_cityscapes)


def _run_cityscapes(args: argparse.Namespace) -> int:
    from hat.data.synthetic.cityscapes import make_cityscapes

    summary = make_cityscapes(
        args.out, **_generator_kwargs(args, "num_train", "num_val", "num_test")
    )
    counts = f"{summary['train']} train, {summary['val']} val, {summary['test']} test images"
    return _report(args, summary, counts)


def _add_sceneflow(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sceneflow", help="synthetic SceneFlow finalpass (png pairs + exact .pfm disparity)"
    )
    p.add_argument("--out", required=True, help="output root, e.g. tmp_data/SceneFlow")
    p.add_argument("--num-train", type=int, required=True)
    p.add_argument("--num-test", type=int, required=True)
    _add_common_options(
        p, height=320, width=576, overwrite_help="replace an existing generated tree"
    )
    p.add_argument("--max-disp", type=float, default=64.0, help="design range in px (<= 160)")
    p.add_argument(
        "--self-check", action="store_true", help="check every pair: warping right gives left"
    )
    p.set_defaults(run=_run_sceneflow)


def _run_sceneflow(args: argparse.Namespace) -> int:
    from hat.data.synthetic.sceneflow import make_sceneflow

    summary = make_sceneflow(
        args.out, **_generator_kwargs(args, "num_train", "num_test", "max_disp", "self_check")
    )
    counts = f"{summary['train']} train and {summary['test']} test pairs"
    return _report(args, summary, counts, max_ratio=0.5)


def _add_mot17(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mot17", help="synthetic MOT17 (walking people, gt.txt, det.txt of DPM/FRCNN/SDP)"
    )
    p.add_argument("--out", required=True, help="output root, e.g. tmp_data/MOT17")
    p.add_argument("--num-seqs", type=int, required=True, help="train videos (1..7)")
    p.add_argument(
        "--num-test-seqs", type=int, default=None, help="test videos, 0..7 (default: --num-seqs)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--frames", type=int, default=None, help="frames per video (default: the real lengths)"
    )
    p.add_argument(
        "--image-scale", type=float, default=1.0, help="image size factor (1: 1920x1080 / 640x480)"
    )
    p.add_argument("--num-workers", type=int, default=0, help="processes (0 = this one)")
    p.add_argument("--overwrite", action="store_true", help="replace existing train/ and test/")
    p.set_defaults(run=_run_mot17)


def _run_mot17(args: argparse.Namespace) -> int:
    from hat.data.synthetic.mot17 import make_mot17

    summary = make_mot17(
        args.out,
        num_seqs=args.num_seqs,
        seed=args.seed,
        frames=args.frames,
        image_scale=args.image_scale,
        num_test_seqs=args.num_test_seqs,
        num_workers=args.num_workers,
        overwrite=args.overwrite,
    )
    counts = f"{summary['train']} train and {summary['test']} test videos"
    if summary["skipped"]:
        print(f"{args.out} already holds these {counts}; nothing to do (--overwrite regenerates)")
        return 0
    print(
        f"wrote {counts} ({summary['frames']} frames, {summary['gt_rows']} gt rows, "
        f"image scale {args.image_scale}) to {args.out}"
    )
    return 0


def _image_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        msg = f"expected WIDTHxHEIGHT, e.g. 1600x900, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return w, h


def _add_nuscenes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nuscenes", help="synthetic nuScenes (13 tables, 6 cameras, LIDAR_TOP, maps, expansion)"
    )
    p.add_argument("--out", required=True, help="dataroot, e.g. tmp_data/nuscenes_raw")
    p.add_argument("--version", default="v1.0-trainval", choices=["v1.0-trainval", "v1.0-mini"])
    p.add_argument("--num-train-scenes", type=int, required=True, help="train (mini_train) scenes")
    p.add_argument("--num-val-scenes", type=int, required=True, help="val (mini_val) scenes")
    p.add_argument("--frames-per-scene", type=int, default=40, help="key frames at 2 Hz")
    _add_common_options(p, height=900, width=1600, overwrite_help="replace an existing dataroot")
    p.add_argument(
        "--image-size", type=_image_size, default=None, help="WxH, sets --width and --height"
    )
    p.set_defaults(run=_run_nuscenes)


def _run_nuscenes(args: argparse.Namespace) -> int:
    from hat.data.synthetic.nuscenes import make_nuscenes

    if args.image_size is not None:
        args.width, args.height = args.image_size
    summary = make_nuscenes(
        args.out,
        **_generator_kwargs(
            args, "version", "num_train_scenes", "num_val_scenes", "frames_per_scene"
        ),
    )
    counts = f"{args.version} scenes ({summary['train']} train, {summary['val']} val)"
    if not summary["skipped"]:
        counts += f", {summary['samples']} samples, {summary['annotations']} annotations"
    return _report(args, summary, counts)


_DATASETS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_flyingchairs,
    _add_cityscapes,
    _add_sceneflow,
    _add_mot17,
    _add_nuscenes,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    for add in _DATASETS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        code = args.run(args)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
