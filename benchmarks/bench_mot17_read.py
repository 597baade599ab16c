"""MOT17 data path throughput: synthetic tree -> half split -> LMDB pack -> frame reads.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_mot17_read.py [--num-seqs 2 --frames 80 \
        --image-scale 0.5 --repeats 3 --num-workers 0] [--gif docs/images/mot17_synthetic_gt.gif]

Generates a synthetic MOT17 (:mod:`hat.data.synthetic.mot17`) in a temp dir, splits it in halves
(``gen_mot_data.py``'s :func:`~hat.data.mot17_half_split.make_half_split`), packs both halves
(:class:`~hat.data.packers.mot17.Mot17Packer`) and reads every frame of the train half through
``Mot17Dataset`` (LMDB: one lookup in a memory map, the stored JPEG decoded) and
``Mot17FromImage`` (raw files: open and decode each JPEG, boxes parsed from ``gt.txt`` once per
sequence), reporting frames/s of every step and the LMDB / raw-files read ratio. Both readers
decode the same JPEG bytes, which dominates: the ratio shows what the LMDB saves around the
decode (file opens, directory lookups), expected a little above 1 with the files in the page
cache. The readers alternate within each repeat; the table gives each one's best pass and the
median of the per-repeat ratios. Also timed: MOTR's training clips (length 5, the seed's
transforms up to ``SeqNormalize``) in clips/s.

``--gif PATH`` also writes the picture of the docs: the first train sequence with its ground-truth
tracks, ``--gif-frames`` frames at ``--gif-side`` pixels wide (rendered at 0.2 scale).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402

from hat.data.datasets.mot17 import Mot17Dataset, Mot17FromImage  # noqa: E402
from hat.data.mot17_half_split import make_half_split  # noqa: E402
from hat.data.packers.mot17 import Mot17Packer  # noqa: E402
from hat.data.sample_seeding import seeded_rngs  # noqa: E402
from hat.data.synthetic.mot17 import make_mot17  # noqa: E402

SCALES = [(608, 1536), (704, 1536), (800, 1536), (896, 1536), (992, 1536)]
TRAIN_TRANSFORMS = [
    dict(type="SeqRandomFlip", px=0.5),
    dict(
        type="RandomSelectOne",
        p=1,
        transforms=[
            dict(type="SeqResize", img_scale=SCALES, divisor=2),
            [
                dict(type="SeqResize", img_scale=[(400, 9999999), (500, 9999999)], divisor=2),
                dict(type="SeqRandomSizeCrop", min_size=384, max_size=600),
                dict(type="SeqResize", img_scale=SCALES, divisor=2),
            ],
        ],
    ),
    dict(type="SeqToTensor"),
    dict(type="SeqBgrToYuv444", rgb_input=True),
    dict(type="SeqNormalize", mean=128.0, std=128.0),
]


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _read_all(dataset) -> float:
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return time.perf_counter() - start


def _write_gif(path: str, seed: int, frames: int, side: int) -> None:
    from hat.visualize.tracks import visualize_mot_sequence

    with tempfile.TemporaryDirectory() as tmp:
        make_mot17(os.path.join(tmp, "MOT17"), 1, seed, frames, image_scale=0.2, num_test_seqs=0)
        seq = os.path.join(tmp, "MOT17", "train", "MOT17-02-FRCNN")
        result = visualize_mot_sequence(
            seq, os.path.join(tmp, "vis"), png=False, fps=10, max_side=side, colors=32
        )
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        shutil.copyfile(str(result["gif"]), path)
    print(f"wrote {path}: {frames} frames, {os.path.getsize(path) / 1e6:.2f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-seqs", type=int, default=2, help="synthetic train videos")
    parser.add_argument("--frames", type=int, default=80, help="frames per video")
    parser.add_argument("--image-scale", type=float, default=0.5, help="of the MOT17 sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=0, help="packer reader processes")
    parser.add_argument("--clips", type=int, default=16, help="training clips to time")
    parser.add_argument("--cv2-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif", default=None, help="also write the docs' GIF here")
    parser.add_argument("--gif-frames", type=int, default=36)
    parser.add_argument("--gif-side", type=int, default=384)
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.cv2_threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "MOT17")
        split_dir = os.path.join(root, "split_data")
        target = os.path.join(tmp, "mot17")
        secs, _ = _timed(
            lambda: make_mot17(
                root, args.num_seqs, args.seed, args.frames, args.image_scale, num_test_seqs=0
            )
        )
        n = args.num_seqs * args.frames
        rows = [("generate (FRCNN images)", n, secs)]
        secs, _ = _timed(lambda: make_half_split(root, split_dir))
        rows.append(("half split (hard links)", n, secs))
        for split in ("train", "test"):
            packer = Mot17Packer(split_dir, target, split, num_workers=args.num_workers)
            secs, count = _timed(packer)
            rows.append((f"pack {split}", count, secs))

        lmdb = Mot17Dataset(os.path.join(target, "train_lmdb"))
        raw = Mot17FromImage(os.path.join(split_dir, "train"))
        assert len(lmdb) == len(raw)
        _read_all(lmdb), _read_all(raw)  # page cache warm, gt parsed
        times = {"lmdb": [], "raw": []}
        for _ in range(args.repeats):
            times["lmdb"].append(_read_all(lmdb))
            times["raw"].append(_read_all(raw))
        rows.append(("read LMDB (Mot17Dataset)", len(lmdb), min(times["lmdb"])))
        rows.append(("read raw files (Mot17FromImage)", len(raw), min(times["raw"])))

        train = Mot17Dataset(
            os.path.join(target, "train_lmdb"),
            transforms=TRAIN_TRANSFORMS,
            sampler_lengths=[5],
            sample_mode="random_interval",
            sample_interval=10,
        )
        height, width = lmdb[0]["frames"][0]["img"].shape[:2]

        def clips() -> None:
            for i in range(args.clips):
                with seeded_rngs(i):
                    train[i * 7 % len(train)]

        secs, _ = _timed(clips)

        print(
            f"synthetic MOT17: {args.num_seqs} videos x {args.frames} frames at "
            f"{width}x{height} (scale {args.image_scale}), JPEG; cv2 threads {args.cv2_threads}"
        )
        print(f"{'step':34s} {'frames':>7s} {'seconds':>8s} {'frames/s':>9s}")
        for name, count, secs_ in rows:
            print(f"{name:34s} {count:7d} {secs_:8.2f} {count / secs_:9.1f}")
        print(f"{'train clips (L=5, seed transforms)':34s} {args.clips:7d} {secs:8.2f} "
              f"{args.clips / secs:9.1f} clips/s")  # fmt: skip
        best = min(times["raw"]) / min(times["lmdb"])
        median = statistics.median(r / m for m, r in zip(times["lmdb"], times["raw"], strict=True))
        print(f"LMDB / raw files read speed: {best:.2f}x (best passes), {median:.2f}x (median)")

    if args.gif:
        _write_gif(args.gif, args.seed, args.gif_frames, args.gif_side)
    return 0


if __name__ == "__main__":
    sys.exit(main())
