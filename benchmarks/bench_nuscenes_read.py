"""nuScenes: the packer's throughput and size, and the LMDB reader vs the raw files.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_nuscenes_read.py [--num-scenes 2 \
        --frames-per-scene 8 --height 900 --width 1600 --pack-workers 2 --repeats 3 \
        --modes warm,cold]

Generates a synthetic nuScenes dataroot (``v1.0-mini``, full-size 1600x900 cameras by default)
in a temp dir, packs its ``mini_train`` split (key frames/s in-process and with
``--pack-workers`` reader processes; LMDB size against the split's camera JPEGs and the
version's tables), then reads every key frame through:

- ``NuscenesDataset`` (the LMDB) and ``NuscenesFromImage`` (the raw files: 6 JPEG files per
  sample, the tables parsed once beforehand): the full sample, 6 JPEGs decoded;
- the bytes only: one LMDB record (``LmdbReader.get_bytes``) vs the 6 camera files.

Both readers run in one process taking turns in each repeat (warm: page cache filled by an
untimed pass first), or each pass in a fresh process after evicting its files from the page
cache with ``posix_fadvise(DONTNEED)`` (cold). Each sample is timed; a reader's rate uses each
sample's best time over the repeats (other processes' load only adds time), the ratio is LMDB /
raw files. JPEG decoding is the same work for both, so the full-sample ratio stays near 1; the
bytes-only ratio shows what the single B-tree lookup saves over 6 file opens.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hat.data.datasets.nuscenes import NuscenesDataset, NuscenesFromImage  # noqa: E402
from hat.data.pack_type.lmdb import LmdbReader  # noqa: E402
from hat.data.packers.nuscenes import NuscenesPacker  # noqa: E402
from hat.data.readers.nuscenes_layout import NuscenesLayout, read_file_bytes  # noqa: E402
from hat.data.synthetic.nuscenes import make_nuscenes  # noqa: E402

VERSION = "v1.0-mini"
SPLIT = "mini_train"
CASES = (("sample", "raw files"), ("sample", "lmdb"), ("bytes", "raw files"), ("bytes", "lmdb"))
MODES = {
    "warm": "page cache warm (one untimed pass of each reader first)",
    "cold": "page cache evicted before each pass (a fresh process per pass)",
}


class _RawBytes:
    """The 6 camera files of each key frame, read as they are."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.frames = NuscenesLayout(root, VERSION).frames(SPLIT)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, idx: int) -> list[bytes]:
        return [read_file_bytes(self.root, v.filename) for v in self.frames[idx].cameras]


class _LmdbBytes:
    def __init__(self, lmdb: str) -> None:
        self.reader = LmdbReader(lmdb)

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, idx: int) -> bytes:
        return self.reader.get_bytes(idx)


def _reader(case: tuple[str, str], root: str, lmdb: str):
    what, kind = case
    if what == "sample":
        return NuscenesDataset(lmdb) if kind == "lmdb" else NuscenesFromImage(root, VERSION, SPLIT)
    return _LmdbBytes(lmdb) if kind == "lmdb" else _RawBytes(root)


def _files(kind: str, root: str, lmdb: str) -> list[str]:
    if kind == "lmdb":
        return [os.path.join(lmdb, n) for n in os.listdir(lmdb)]
    frames = NuscenesLayout(root, VERSION).frames(SPLIT)
    return [os.path.join(root, v.filename) for f in frames for v in f.cameras]


def _evict(paths: list[str]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _one_pass(reader) -> list[float]:
    times = []
    for i in range(len(reader)):
        start = time.perf_counter()
        reader[i]
        times.append(time.perf_counter() - start)
    return times


def _child(root: str, lmdb: str, mode: str, repeats: int, cases: list, queue) -> None:
    if mode == "cold":
        ((case),) = cases
        reader = _reader(case, root, lmdb)  # the tables are parsed before the eviction
        _evict(_files(case[1], root, lmdb))
        queue.put({case: [_one_pass(reader)]})
        return
    readers = {case: _reader(case, root, lmdb) for case in cases}
    for reader in readers.values():
        _one_pass(reader)
    passes: dict = {case: [] for case in cases}
    for _ in range(repeats):
        for case, reader in readers.items():  # interleaved: other load hits every reader alike
            passes[case].append(_one_pass(reader))
    queue.put(passes)


def measure(root: str, lmdb: str, mode: str, repeats: int) -> dict:
    """``{case: [seconds per sample of each pass]}``, measured in child processes (the parent
    never maps the LMDB)."""
    ctx = mp.get_context("spawn")
    runs = [[case] for _ in range(repeats) for case in CASES] if mode == "cold" else [list(CASES)]
    out: dict = {case: [] for case in CASES}
    for cases in runs:
        queue = ctx.Queue()
        reps = 1 if mode == "cold" else repeats
        proc = ctx.Process(target=_child, args=(root, lmdb, mode, reps, cases, queue))
        proc.start()
        for case, values in queue.get().items():
            out[case] += values
        proc.join()
    return out


def best_rate(passes: list[list[float]]) -> float:
    """Samples/s from each sample's fastest time over the passes."""
    return len(passes[0]) / sum(min(times) for times in zip(*passes))


def _size(paths: list[str]) -> int:
    return sum(os.path.getsize(p) for p in paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-scenes", type=int, default=2, help="mini_train scenes")
    parser.add_argument("--frames-per-scene", type=int, default=8)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--pack-workers", type=int, default=2, help="packer reader processes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="warm,cold", help=f"comma list of {', '.join(MODES)}")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        parser.error(f"unknown modes {modes}: expected {list(MODES)}")

    with tempfile.TemporaryDirectory(prefix="bench_nuscenes_") as tmp:
        root, target = os.path.join(tmp, "nuscenes_raw"), os.path.join(tmp, "nuscenes")
        start = time.perf_counter()
        make_nuscenes(
            root, VERSION, num_train_scenes=args.num_scenes, num_val_scenes=0, seed=0,
            frames_per_scene=args.frames_per_scene, height=args.height, width=args.width,
        )  # fmt: skip
        made = time.perf_counter() - start
        pack_rates = {}
        for workers in sorted({0, args.pack_workers}):
            packer = NuscenesPacker(root, target, SPLIT, workers, overwrite=True, version=VERSION)
            start = time.perf_counter()
            count = packer()
            pack_rates[workers] = count / (time.perf_counter() - start)
        os.sync()
        lmdb = packer.target
        jpeg_bytes = _size(_files("raw files", root, lmdb))
        table_dir = os.path.join(root, VERSION)
        table_bytes = _size([os.path.join(table_dir, n) for n in os.listdir(table_dir)])
        lmdb_bytes = _size(_files("lmdb", root, lmdb))
        mib = 2**20
        print(
            f"\n{count} synthetic key frames ({args.num_scenes} scenes, 6 cameras "
            f"{args.width}x{args.height}; generated in {made:.1f} s)\n"
            "packer (key frames/s, the pack call: table parse, checks, reader processes' start "
            "and LMDB included): "
            + ", ".join(f"{r:.2f} with {w} reader processes" for w, r in pack_rates.items())
            + "\n"
            f"size: LMDB {lmdb_bytes / mib:.1f} MiB vs raw {(jpeg_bytes + table_bytes) / mib:.1f} "
            f"MiB (camera JPEGs {jpeg_bytes / mib:.1f} + tables {table_bytes / mib:.1f}): "
            f"LMDB / raw = {lmdb_bytes / (jpeg_bytes + table_bytes):.3f}, "
            f"LMDB / JPEGs = {lmdb_bytes / jpeg_bytes:.3f}"
        )
        print(f"repeats: {args.repeats}; " + "; ".join(f"{m}: {MODES[m]}" for m in modes))
        print(f"\n{'mode':6} {'what':7} {'raw files /s':>13} {'lmdb /s':>10} {'lmdb / raw':>11}")
        for mode in modes:
            rates = measure(root, lmdb, mode, args.repeats)
            for what in ("sample", "bytes"):
                raw = best_rate(rates[what, "raw files"])
                packed = best_rate(rates[what, "lmdb"])
                print(f"{mode:6} {what:7} {raw:13.1f} {packed:10.1f} {packed / raw:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
