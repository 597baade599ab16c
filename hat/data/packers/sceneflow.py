"""Pack a SceneFlow list into an LMDB (schema: :mod:`hat.data.codecs.sceneflow`).

Sample ``i`` of the LMDB (key ``b"i"``) is line ``i`` of the list file (blank lines skipped);
``b"__len__"`` holds the count. Samples are read and encoded by a process pool and written in
list order; any unreadable sample aborts the pack and leaves nothing at the target.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from hat.data.codecs.sceneflow import IMG_FORMATS, encode_sample
from hat.data.pack_type import check_pack_type
from hat.data.pack_type.lmdb import LmdbWriter
from hat.data.packers.pool import reader_pool
from hat.data.packers.target import make_receiving_dir, split_lmdb_path
from hat.data.readers.sceneflow_layout import SPLIT_NAMES, SceneFlowLayout, StereoEntry

__all__ = ["SceneFlowPacker", "load_sample_value"]


def load_sample_value(
    layout: SceneFlowLayout, entry: StereoEntry, img_format: str = "raw"
) -> dict[str, Any]:
    """Read one listed sample from raw files and return its LMDB value dict."""
    left, right, disp = layout.read_sample(entry, to_rgb=True)
    files: list[bytes | None] = [None, None]
    if img_format == "png":
        for i, path in enumerate(layout.paths(entry)[:2]):
            with open(path, "rb") as f:
                files[i] = f.read()
    return encode_sample(left, right, disp, entry.left, img_format, *files)


class _Worker:
    """Picklable callable for the pool: entry -> value dict."""

    def __init__(self, layout: SceneFlowLayout, img_format: str) -> None:
        self.layout, self.img_format = layout, img_format

    def __call__(self, entry: StereoEntry) -> dict[str, Any]:
        return load_sample_value(self.layout, entry, self.img_format)


class SceneFlowPacker:
    """Pack split ``split_name`` of the raw SceneFlow at ``src_data_dir``.

    Args:
        src_data_dir: the SceneFlow root (subsets and ``SceneFlow_finalpass_*.txt``).
        target_data_dir: directory that receives ``<split>_lmdb`` (default ``src_data_dir``);
            a path already ending in ``<split>_lmdb`` is used as the LMDB itself
            (:func:`~hat.data.packers.target.split_lmdb_path`).
        split_name: ``"train"`` or ``"test"``: picks ``SceneFlow_finalpass_<split>.txt``.
        num_workers: reader processes; 0 or 1 reads in this process.
        pack_type: only ``"lmdb"``.
        img_format: ``"raw"`` (fast to read, default) or ``"png"`` (source files, smaller).
        overwrite: replace an existing target once the new one is complete.
        num_samples: pack only the first N samples (for quick experiments).
        data_list: pack this three-column list instead of the split's list file.
    """

    def __init__(
        self,
        src_data_dir: str,
        target_data_dir: str | None = None,
        split_name: str = "train",
        num_workers: int = 4,
        pack_type: str = "lmdb",
        img_format: str = "raw",
        overwrite: bool = False,
        num_samples: int | None = None,
        data_list: str | None = None,
    ) -> None:
        self.pack_type = check_pack_type(pack_type)
        if split_name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {split_name!r}: expected one of {SPLIT_NAMES}")
        if img_format not in IMG_FORMATS:
            raise ValueError(f"unknown img_format {img_format!r}: expected one of {IMG_FORMATS}")
        self.layout = SceneFlowLayout(src_data_dir)
        self.split_name = split_name
        self.target = split_lmdb_path(src_data_dir, target_data_dir, split_name)
        self.num_workers = max(0, int(num_workers))
        self.img_format = img_format
        self.overwrite = overwrite
        self.entries = self.layout.entries(split_name, data_list)
        if num_samples is not None:
            self.entries = self.entries[: int(num_samples)]
        if not self.entries:
            raise ValueError(f"nothing to pack: num_samples={num_samples}")

    def __call__(self) -> int:
        """Pack; return the number of samples written."""
        worker = _Worker(self.layout, self.img_format)
        desc = f"pack {self.split_name} -> {self.target}"
        total = len(self.entries)
        make_receiving_dir(self.target)
        with LmdbWriter(self.target, overwrite=self.overwrite, commit_every=16) as writer:
            if self.num_workers <= 1:
                for value in tqdm(map(worker, self.entries), total=total, desc=desc, unit="pair"):
                    writer.append(value)
            else:
                with reader_pool(self.num_workers) as pool:
                    values = pool.imap(worker, self.entries, chunksize=2)
                    for value in tqdm(values, total=total, desc=desc, unit="pair"):
                        writer.append(value)
            count = len(writer)
        return count

    run = __call__
