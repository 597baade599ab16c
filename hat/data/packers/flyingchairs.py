"""Pack a FlyingChairs split into an LMDB (schema: :mod:`hat.data.codecs.flyingchairs`).

Sample ``i`` of the LMDB (key ``b"i"``) is the i-th pair of the split in file order;
``b"__len__"`` holds the count. Pairs are read and encoded by a process pool and written in
index order; any unreadable pair aborts the pack and leaves nothing at the target.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from hat.data.codecs.flyingchairs import IMG_FORMATS, encode_pair
from hat.data.pack_type import check_pack_type
from hat.data.pack_type.lmdb import LmdbWriter
from hat.data.packers.pool import reader_pool
from hat.data.packers.target import make_receiving_dir, split_lmdb_path
from hat.data.readers.flyingchairs_layout import SPLIT_LABELS, FlyingChairsLayout

__all__ = ["FlyingChairsPacker", "load_pair_value"]


def load_pair_value(
    layout: FlyingChairsLayout, pair_id: int, img_format: str = "raw"
) -> dict[str, Any]:
    """Read pair ``pair_id`` from raw files and return its LMDB value dict."""
    img1, img2, flow = layout.read_pair(pair_id, to_rgb=True)
    return encode_pair(img1, img2, flow, pair_id, img_format)


class _Worker:
    """Picklable callable for the pool: pair id -> value dict."""

    def __init__(self, layout: FlyingChairsLayout, img_format: str) -> None:
        self.layout, self.img_format = layout, img_format

    def __call__(self, pair_id: int) -> dict[str, Any]:
        return load_pair_value(self.layout, pair_id, self.img_format)


class FlyingChairsPacker:
    """Pack split ``split_name`` of the raw FlyingChairs at ``src_data_dir``.

    Args:
        src_data_dir: directory holding ``FlyingChairs_release/`` and the split file.
        target_data_dir: directory that receives ``<split>_lmdb`` (default ``src_data_dir``);
            a path already ending in ``<split>_lmdb`` is used as the LMDB itself
            (:func:`~hat.data.packers.target.split_lmdb_path`).
        split_name: ``"train"`` or ``"val"``.
        num_workers: reader processes; 0 or 1 reads in this process.
        pack_type: only ``"lmdb"``.
        img_format: ``"raw"`` (fast to read, default) or ``"png"`` (smaller).
        overwrite: replace an existing target once the new one is complete.
        num_samples: pack only the first N pairs of the split (for quick experiments).
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
    ) -> None:
        self.pack_type = check_pack_type(pack_type)
        if split_name not in SPLIT_LABELS:
            raise ValueError(
                f"unknown split {split_name!r}: expected one of {sorted(SPLIT_LABELS)}"
            )
        if img_format not in IMG_FORMATS:
            raise ValueError(f"unknown img_format {img_format!r}: expected one of {IMG_FORMATS}")
        self.layout = FlyingChairsLayout(src_data_dir)
        self.split_name = split_name
        self.target = split_lmdb_path(src_data_dir, target_data_dir, split_name)
        self.num_workers = max(0, int(num_workers))
        self.img_format = img_format
        self.overwrite = overwrite
        self.pair_ids = self.layout.pair_ids(split_name)
        if num_samples is not None:
            self.pair_ids = self.pair_ids[: int(num_samples)]
        if not self.pair_ids:
            raise ValueError(f"{self.layout.split_file}: the {split_name!r} split is empty")

    def __call__(self) -> int:
        """Pack; return the number of samples written."""
        worker = _Worker(self.layout, self.img_format)
        desc = f"pack {self.split_name} -> {self.target}"
        make_receiving_dir(self.target)
        with LmdbWriter(self.target, overwrite=self.overwrite) as writer:
            if self.num_workers <= 1:
                values = map(worker, self.pair_ids)
                for value in tqdm(values, total=len(self.pair_ids), desc=desc, unit="pair"):
                    writer.append(value)
            else:
                with reader_pool(self.num_workers) as pool:
                    values = pool.imap(worker, self.pair_ids, chunksize=4)
                    for value in tqdm(values, total=len(self.pair_ids), desc=desc, unit="pair"):
                        writer.append(value)
            count = len(writer)
        return count

    run = __call__
