"""Pack a FlyingChairs split into an LMDB (schema: :mod:`hat.data.codecs.flyingchairs`).

Sample ``i`` of the LMDB (key ``b"i"``) is the i-th pair of the split in file order;
``b"__len__"`` holds the count. Pairs are read and encoded by a process pool and written in
index order; any unreadable pair aborts the pack and leaves nothing at the target.
"""

from __future__ import annotations

from typing import Any

from hat.data.codecs.flyingchairs import IMG_FORMATS, encode_pair
from hat.data.packers.base import SamplePacker
from hat.data.readers.flyingchairs_layout import SPLIT_LABELS, FlyingChairsLayout

__all__ = ["FlyingChairsPacker", "load_pair_value"]


def load_pair_value(
    layout: FlyingChairsLayout, pair_id: int, img_format: str = "raw"
) -> dict[str, Any]:
    """Read pair ``pair_id`` from raw files and return its LMDB value dict."""
    img1, img2, flow = layout.read_pair(pair_id, to_rgb=True)
    return encode_pair(img1, img2, flow, pair_id, img_format)


class FlyingChairsPacker(SamplePacker):
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

    load_value = staticmethod(load_pair_value)
    unit = "pair"
    chunksize = 4
    commit_every = 64

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
        super().__init__(
            src_data_dir,
            target_data_dir,
            split_name,
            num_workers,
            pack_type,
            img_format,
            overwrite,
            splits=sorted(SPLIT_LABELS),
            img_formats=IMG_FORMATS,
        )
        self.layout = FlyingChairsLayout(src_data_dir)
        self.samples = self.layout.pair_ids(split_name)
        if num_samples is not None:
            self.samples = self.samples[: int(num_samples)]
        if not self.samples:
            raise ValueError(f"{self.layout.split_file}: the {split_name!r} split is empty")
