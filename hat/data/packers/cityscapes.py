"""Pack a Cityscapes split into an LMDB (schema: :mod:`hat.data.codecs.cityscapes`).

Sample ``i`` of the LMDB (key ``b"i"``) is the i-th sample of the split as listed by
:meth:`CityscapesLayout.samples` (sorted by city, then name); ``b"__len__"`` holds the count.
Samples are read and checked by a process pool and written in index order; any bad sample
aborts the pack and leaves nothing at the target.
"""

from __future__ import annotations

from typing import Any

from hat.data.codecs.cityscapes import IMG_FORMATS, encode_sample
from hat.data.packers.base import SamplePacker
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


class CityscapesPacker(SamplePacker):
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

    load_value = staticmethod(load_sample_value)
    unit = "img"

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
        super().__init__(
            src_data_dir,
            target_data_dir,
            split_name,
            num_workers,
            pack_type,
            img_format,
            overwrite,
            splits=SPLITS,
            img_formats=IMG_FORMATS,
        )
        self.layout = CityscapesLayout(src_data_dir, image_size)
        self.samples = self.layout.samples(split_name)
        if num_samples is not None:
            self.samples = self.samples[: int(num_samples)]
