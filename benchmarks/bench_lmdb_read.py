"""Read throughput: packed LMDB ``FlyingChairs`` vs raw-file ``FlyingChairsFromImage``.

    python3 benchmarks/bench_lmdb_read.py [--num-pairs 64 --height 384 --width 512]

Generates a synthetic FlyingChairs in a temp dir, packs it twice (``raw`` and ``png`` image
encodings), then reads every sample through each dataset with no transform and with
``ToTensor`` (uint8 ``(6, H, W)`` images, as the training loaders ship them), reporting samples/s
and the LMDB / raw-files ratio against the goal (>= 3x).

Every measurement runs in a fresh process (the parent never maps the LMDB). Modes:

- warm: files in the page cache (one untimed pass first; median of ``--repeats`` passes);
- cold: each pass in a fresh process after evicting the files from the page cache with
  ``posix_fadvise(DONTNEED)``, so every byte comes from the disk;
- warm-glibc: as warm, with glibc's default allocator settings (``HAT_TUNE_MALLOC=0``; see
  :mod:`hat.data.memory`: fresh-page faults then dominate both readers).

What differs: the raw reader opens three files per sample and parses PPM + .flo; the LMDB reader
does one B-tree lookup in a memory map and one msgpack decode, and then either copies raw pixels
(``raw``) or decodes two PNGs (``png``, several times slower than reading PPM).
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


def _one_pass(ds) -> float:
    start = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return len(ds) / (time.perf_counter() - start)


def _child(kind: str, root: str, transform: str, mode: str, repeats: int, queue) -> None:
    if mode == "warm-glibc":
        os.environ["HAT_TUNE_MALLOC"] = "0"  # read by hat.data.memory.tune_malloc
    if mode == "cold":
        _evict(_files(kind, root))
        queue.put([_one_pass(_dataset(kind, root, transform))])
        return
    ds = _dataset(kind, root, transform)
    _one_pass(ds)  # warm-up: page cache, lazy LMDB open
    queue.put([_one_pass(ds) for _ in range(repeats)])


def measure(kind: str, root: str, transform: str, repeats: int, mode: str) -> float:
    """Median samples/s over ``repeats`` passes, each measurement in a fresh process.

    The parent never maps the LMDB, which would keep its pages in the cache.
    """
    ctx = mp.get_context("spawn")
    rates: list[float] = []
    for _ in range(repeats if mode == "cold" else 1):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(kind, root, transform, mode, repeats, queue))
        proc.start()
        rates += queue.get()
        proc.join()
    return statistics.median(rates)


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
        header = " ".join(f"{k + ' /s':>13}" for k in KINDS)
        print(f"\n{'mode':10} {'transform':9} {header} {'raw ratio':>10} {'png ratio':>10}")
        results = {}
        for mode in modes:
            for transform in ("none", "ToTensor"):
                rates = {k: measure(k, root, transform, args.repeats, mode) for k in KINDS}
                results[mode, transform] = rates
                r_raw = rates["lmdb raw"] / rates["raw files"]
                r_png = rates["lmdb png"] / rates["raw files"]
                cells = " ".join(f"{rates[k]:13.1f}" for k in KINDS)
                print(f"{mode:10} {transform:9} {cells} {r_raw:9.2f}x {r_png:9.2f}x")
        _verdict(results)
    return 0


def _verdict(results: dict) -> None:
    print(f"\ngoal: LMDB (default 'raw' encoding) >= {GOAL:.0f}x the raw-file reader")
    for (mode, transform), rates in results.items():
        ratio = rates["lmdb raw"] / rates["raw files"]
        print(f"  {mode:10} {transform:9} {ratio:5.2f}x  {'MET' if ratio >= GOAL else 'NOT MET'}")
    for mode in ("warm", "cold"):
        if (mode, "none") in results and (mode, "ToTensor") in results:
            none, tt = results[mode, "none"], results[mode, "ToTensor"]
            read = {k: 1e3 / none[k] for k in ("raw files", "lmdb raw")}
            extra = 1e3 / tt["lmdb raw"] - read["lmdb raw"]
            print(
                f"  {mode}: ms/sample to read: raw files {read['raw files']:.2f}, lmdb "
                f"{read['lmdb raw']:.2f}; ToTensor adds ~{extra:.2f} ms to either (one copy "
                "into the (6, H, W) uint8 layout), which caps the ratio with it"
            )


if __name__ == "__main__":
    sys.exit(main())
