"""Pack a Cityscapes split into an LMDB (schema: :mod:`hat.data.codecs.cityscapes`).

Sample ``i`` of the LMDB (key ``b"i"``) is the i-th sample of the split as listed by
:meth:`CityscapesLayout.samples` (sorted by city, then name); ``b"__len__"`` holds the count.
Samples are read and checked by a process pool and written in index order; any bad sample
aborts the pack and leaves nothing at the target.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from hat.data.codecs.cityscapes import IMG_FORMATS, encode_sample
from hat.data.pack_type import check_pack_type
from hat.data.pack_type.lmdb import LmdbWriter
from hat.data.packers.pool import reader_pool
from hat.data.packers.target import make_receiving_dir, split_lmdb_path
from hat.data.readers.cityscapes_layout import SPLITS, CityscapesLayout, CityscapesSample

__all__ = ["CityscapesPacker", "load_sample_value"]


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"file not found: {path}") from None


def load_sample_value(
    layout: CityscapesLayout, sample: CityscapesSample, img_format: str = "png"
) -> dict[str, Any]:
    """Read one sample's files and return its LMDB value (checks decoding and sizes)."""
    value = encode_sample(
        _read_bytes(sample.image_path),
        _read_bytes(sample.label_path),
        sample.name,
        sample.city,
        img_format,
        where=sample.image_path,
        label_where=sample.label_path,
    )
    layout.check_image_size(sample, tuple(value["shape"]))
    return value


class _Worker:
    """Picklable callable for the pool: sample -> value dict."""

    def __init__(self, layout: CityscapesLayout, img_format: str) -> None:
        self.layout, self.img_format = layout, img_format

    def __call__(self, sample: CityscapesSample) -> dict[str, Any]:
        return load_sample_value(self.layout, sample, self.img_format)


class CityscapesPacker:
    """Pack split ``split_name`` of the raw Cityscapes tree at ``src_data_dir``.

    Args:
        src_data_dir: directory holding ``leftImg8bit/`` and ``gtFine/``.
        target_data_dir: directory that receives ``<split>_lmdb`` (default ``src_data_dir``);
            a path already ending in ``<split>_lmdb`` is used as the LMDB itself
            (:func:`~hat.data.packers.target.split_lmdb_path`).
        split_name: ``"train"``, ``"val"`` or ``"test"``.
        num_workers: reader processes; 0 or 1 reads in this process.
        pack_type: only ``"lmdb"``.
        img_format: ``"png"`` (the source file's bytes, default) or ``"raw"`` (decoded RGB).
        overwrite: replace an existing target once the new one is complete.
        num_samples: pack only the first N samples of the split.
        image_size: expected ``(H, W)`` of every image; None accepts any size.
    """

    def __init__(
        self,
        src_data_dir: str,
        target_data_dir: str | None = None,
        split_name: str = "train",
        num_workers: int = 4,
        pack_type: str = "lmdb",
        img_format: str = "png",
        overwrite: bool = False,
        num_samples: int | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> None:
        self.pack_type = check_pack_type(pack_type)
        if split_name not in SPLITS:
            raise ValueError(f"unknown split {split_name!r}: expected one of {SPLITS}")
        if img_format not in IMG_FORMATS:
            raise ValueError(f"unknown img_format {img_format!r}: expected one of {IMG_FORMATS}")
        self.layout = CityscapesLayout(src_data_dir, image_size)
        self.split_name = split_name
        self.target = split_lmdb_path(src_data_dir, target_data_dir, split_name)
        self.num_workers = max(0, int(num_workers))
        self.img_format = img_format
        self.overwrite = overwrite
        self.samples = self.layout.samples(split_name)
        if num_samples is not None:
            self.samples = self.samples[: int(num_samples)]

    def __call__(self) -> int:
        """Pack; return the number of samples written."""
        worker = _Worker(self.layout, self.img_format)
        desc = f"pack {self.split_name} -> {self.target}"
        total = len(self.samples)
        make_receiving_dir(self.target)
        with LmdbWriter(self.target, overwrite=self.overwrite, commit_every=16) as writer:
            if self.num_workers <= 1:
                for value in tqdm(map(worker, self.samples), total=total, desc=desc, unit="img"):
                    writer.append(value)
            else:
                with reader_pool(self.num_workers) as pool:
                    values = pool.imap(worker, self.samples, chunksize=2)
                    for value in tqdm(values, total=total, desc=desc, unit="img"):
                        writer.append(value)
            count = len(writer)
        return count

    run = __call__
