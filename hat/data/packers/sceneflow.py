"""Pack a SceneFlow list into an LMDB (schema: :mod:`hat.data.codecs.sceneflow`).

Sample ``i`` of the LMDB (key ``b"i"``) is line ``i`` of the list file (blank lines skipped);
``b"__len__"`` holds the count. Samples are read and encoded by a process pool and written in
list order; any unreadable sample aborts the pack and leaves nothing at the target.
"""

from __future__ import annotations

from typing import Any

from hat.data.codecs.sceneflow import IMG_FORMATS, encode_sample
from hat.data.packers.base import SamplePacker
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


class SceneFlowPacker(SamplePacker):
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

    load_value = staticmethod(load_sample_value)
    unit = "pair"

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
        super().__init__(
            src_data_dir,
            target_data_dir,
            split_name,
            num_workers,
            pack_type,
            img_format,
            overwrite,
            splits=SPLIT_NAMES,
            img_formats=IMG_FORMATS,
        )
        self.layout = SceneFlowLayout(src_data_dir)
        self.samples = self.layout.entries(split_name, data_list)
        if num_samples is not None:
            self.samples = self.samples[: int(num_samples)]
        if not self.samples:
            raise ValueError(f"nothing to pack: num_samples={num_samples}")
