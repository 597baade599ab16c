"""Read throughput: packed LMDB ``FlyingChairs`` vs raw-file ``FlyingChairsFromImage``.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_lmdb_read.py [--num-pairs 64 --height 384 \
        --width 512 --repeats 5 --modes warm,cold,warm-glibc]

Generates a synthetic FlyingChairs in a temp dir, packs it twice (``raw`` and ``png`` image
encodings), then reads every sample through each dataset with no transform and with
``ToTensor`` (uint8 ``(6, H, W)`` images, as the training loaders ship them), reporting samples/s
and the LMDB / raw-files ratio against the goal (>= 3x).

The readers are compared in the same process, one pass of each in turn per repeat, so that load
from other processes hits them alike. Each sample is timed; the table gives each reader's rate
from every sample's best time over the repeats (load from other processes only adds time) and
the ratio of those, then the median of the per-repeat ratios. The parent never maps the LMDB.
Modes:

- warm: files in the page cache (one untimed pass of each reader first);
- cold: each repeat in a fresh process after evicting the files from the page cache with
  ``posix_fadvise(DONTNEED)``, so every byte comes from the disk;
- warm-glibc: as warm, with glibc's default allocator settings (``HAT_TUNE_MALLOC=0``; see
  :mod:`hat.data.memory`: fresh-page faults then dominate both readers).

OpenCV runs ``--cv2-threads`` threads (default 1, as one DataLoader worker per core would): both
readers use it (the raw one to decode PPM and swap channels, ``ToTensor`` to split channels).

What differs: the raw reader opens three files per sample, parses PPM + .flo and swaps the
channels to RGB; the LMDB reader does one B-tree lookup in a memory map and decodes the value in
place, then copies raw pixels once (``raw``; with ``ToTensor`` first, its ``(C, H, W)`` copy is
the only one) or decodes two PNGs (``png``, several times slower than reading PPM).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402

from hat.data.datasets import FlyingChairs, FlyingChairsFromImage  # noqa: E402
from hat.data.packers.flyingchairs import FlyingChairsPacker  # noqa: E402
from hat.data.synthetic.flyingchairs import make_flyingchairs  # noqa: E402
from hat.data.transforms import ToTensor  # noqa: E402

GOAL = 3.0
KINDS = ("raw files", "lmdb raw", "lmdb png")


def _dataset(kind: str, root: str, transform: str):
    transforms = [ToTensor()] if transform == "ToTensor" else None
    if kind == "raw files":
        return FlyingChairsFromImage(root, split="train", transforms=transforms)
    lmdb = os.path.join(root, f"lmdb_{kind.split()[1]}", "train_lmdb")
    return FlyingChairs(lmdb, transforms=transforms)


def _files(kind: str, root: str) -> list[str]:
    if kind == "raw files":
        top = os.path.join(root, "FlyingChairs_release", "data")
    else:
        top = os.path.join(root, f"lmdb_{kind.split()[1]}", "train_lmdb")
    return [os.path.join(top, n) for n in os.listdir(top)]


def _evict(paths: list[str]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _one_pass(ds) -> list[float]:
    """Seconds per sample of one pass over ``ds``."""
    times = []
    for i in range(len(ds)):
        start = time.perf_counter()
        ds[i]
        times.append(time.perf_counter() - start)
    return times


TRANSFORMS = ("none", "ToTensor")
CASES = [(transform, kind) for transform in TRANSFORMS for kind in KINDS]


def _child(root: str, mode: str, repeats: int, cv2_threads: int, cases: list, queue) -> None:
    cv2.setNumThreads(cv2_threads)
    if mode == "warm-glibc":
        os.environ["HAT_TUNE_MALLOC"] = "0"  # read by hat.data.memory.tune_malloc
    if mode == "cold":
        ((transform, kind),) = cases
        _evict(_files(kind, root))
        queue.put({cases[0]: [_one_pass(_dataset(kind, root, transform))]})
        return
    datasets = {case: _dataset(case[1], root, case[0]) for case in cases}
    for ds in datasets.values():
        _one_pass(ds)  # warm-up: page cache, lazy LMDB open, allocator
    passes: dict = {case: [] for case in cases}
    for _ in range(repeats):
        for case, ds in datasets.items():  # interleaved: load hits every reader alike
            passes[case].append(_one_pass(ds))
    queue.put(passes)


def measure(root: str, mode: str, repeats: int, cv2_threads: int) -> dict:
    """``{(transform, kind): [seconds per sample of each pass]}``, measured in child processes.

    warm modes: one child, the readers taking turns in each repeat. cold: a fresh child per
    reader and repeat (a process that has mapped the LMDB keeps its pages cached). The parent
    never maps the LMDB.
    """
    ctx = mp.get_context("spawn")
    runs = [[case] for _ in range(repeats) for case in CASES] if mode == "cold" else [CASES]
    rates: dict = {case: [] for case in CASES}
    for cases in runs:
        queue = ctx.Queue()
        reps = 1 if mode == "cold" else repeats
        proc = ctx.Process(target=_child, args=(root, mode, reps, cv2_threads, cases, queue))
        proc.start()
        for case, values in queue.get().items():
            rates[case] += values
        proc.join()
    return rates


def best_rate(passes: list[list[float]]) -> float:
    """Samples/s with each sample's fastest time over the passes: what the reader costs when
    nothing else competes for the CPU (other processes' load only ever adds time)."""
    return len(passes[0]) / sum(min(times) for times in zip(*passes))


def median_rate(passes: list[list[float]]) -> float:
    return statistics.median(len(p) / sum(p) for p in passes)


def ratios(rates: dict, transform: str, kind: str) -> tuple[float, float]:
    """``kind`` / raw files: ratio of the best rates, and median of the per-repeat ratios."""
    best = best_rate(rates[transform, kind]) / best_rate(rates[transform, "raw files"])
    pairs = zip(rates[transform, kind], rates[transform, "raw files"])
    return best, statistics.median(sum(raw) / sum(t) for t, raw in pairs)


MODES = {
    "warm": "page cache warm, allocator tuned (hat.data.memory, the default)",
    "cold": "page cache evicted before each pass",
    "warm-glibc": "page cache warm, glibc's default allocator (HAT_TUNE_MALLOC=0)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-pairs", type=int, default=64)
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cv2-threads", type=int, default=1, help="cv2.setNumThreads in readers")
    parser.add_argument(
        "--modes", default="warm,cold,warm-glibc", help=f"comma list of {', '.join(MODES)}"
    )
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown modes {unknown}: expected {list(MODES)}")

    with tempfile.TemporaryDirectory(prefix="bench_lmdb_") as root:
        t0 = time.perf_counter()
        make_flyingchairs(
            root, args.num_pairs, seed=0, height=args.height, width=args.width, val_fraction=0.0
        )
        for fmt in ("raw", "png"):
            target = os.path.join(root, f"lmdb_{fmt}")  # receives train_lmdb
            FlyingChairsPacker(root, target, "train", num_workers=0, img_format=fmt)()
        os.sync()
        sizes = {
            k: sum(os.path.getsize(p) for p in _files(k, root)) / args.num_pairs / 2**20
            for k in KINDS
        }
        print(
            f"\n{args.num_pairs} synthetic pairs of {args.width}x{args.height} "
            f"(prepared in {time.perf_counter() - t0:.1f} s); MiB per sample: "
            + ", ".join(f"{k} {v:.2f}" for k, v in sizes.items())
        )
        for mode in modes:
            print(f"  {mode}: {MODES[mode]}")
        print(f"  cv2 threads: {args.cv2_threads}; repeats: {args.repeats}")
        header = " ".join(f"{k + ' /s':>13}" for k in KINDS)
        print(
            f"\n{'mode':10} {'transform':9} {header} {'raw ratio':>10} {'(median)':>9} "
            f"{'png ratio':>10}"
        )
        results = {}
        for mode in modes:
            rates = measure(root, mode, args.repeats, args.cv2_threads)
            for transform in TRANSFORMS:
                best = {k: best_rate(rates[transform, k]) for k in KINDS}
                median = {k: median_rate(rates[transform, k]) for k in KINDS}
                raw_ratio, png_ratio = (
                    ratios(rates, transform, "lmdb raw"),
                    ratios(rates, transform, "lmdb png"),
                )
                results[mode, transform] = best, median, raw_ratio
                cells = " ".join(f"{best[k]:13.1f}" for k in KINDS)
                print(
                    f"{mode:10} {transform:9} {cells} {raw_ratio[0]:9.2f}x {raw_ratio[1]:8.2f}x "
                    f"{png_ratio[0]:9.2f}x"
                )
        _verdict(results)
    return 0


def _verdict(results: dict) -> None:
    print(
        "\nrates: each sample's best time over the repeats; ratio: of those (in brackets: median "
        "of the per-repeat ratios)"
    )
    print(f"goal: LMDB (default 'raw' encoding) >= {GOAL:.0f}x the raw-file reader")
    for (mode, transform), (_, _, (best, median)) in results.items():
        verdict = "MET" if best >= GOAL else "NOT MET"
        print(f"  {mode:10} {transform:9} {best:5.2f}x ({median:.2f}x)  {verdict}")
    for mode in MODES:
        if (mode, "none") in results and (mode, "ToTensor") in results:
            none, tt = results[mode, "none"][0], results[mode, "ToTensor"][0]
            ms = {k: (1e3 / none[k], 1e3 / tt[k]) for k in ("raw files", "lmdb raw")}
            print(
                f"  {mode}: best ms/sample read / read+ToTensor: "
                + ", ".join(f"{k} {a:.2f} / {b:.2f}" for k, (a, b) in ms.items())
            )


if __name__ == "__main__":
    sys.exit(main())
