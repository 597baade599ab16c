"""SceneFlow stereo-disparity datasets: packed LMDB and raw files.

Item (before transforms)::

    {"img": [left, right],        # (H, W, 3) uint8, RGB when to_rgb else BGR
     "gt_disp": disp,             # (H, W) float32, left-view disparity in pixels (>= 0)
     "img_name": str}             # the left image path as listed

After ``ToTensor``: ``img`` (6, H, W) uint8 (left channels, then right; float32 before a
resampling transform, see ``ToTensor``), ``gt_disp`` (1, H, W) float32.
"""

from __future__ import annotations

from typing import Any

from hat.data.codecs.sceneflow import decode_sample
from hat.data.datasets.base import LmdbRecordDataset, SampleDataset, Transforms
from hat.data.readers.sceneflow_layout import SceneFlowLayout
from hat.registry import OBJECT_REGISTRY

__all__ = ["SceneFlow", "SceneFlowFromImage"]


@OBJECT_REGISTRY.register
class SceneFlow(LmdbRecordDataset):
    """SceneFlow packed by :class:`~hat.data.packers.sceneflow.SceneFlowPacker`.

    ``data_path``: its LMDB directory (e.g. ``tmp_data/SceneFlow/train_lmdb``); the other
    arguments and how items are read: see :class:`~hat.data.datasets.base.LmdbRecordDataset`.
    """

    def _decode_record(self, value: Any, idx: int, where: str, copy: bool) -> dict:
        s = decode_sample(value, self.to_rgb, where=where, copy=copy)
        return {"img": [s.left, s.right], "gt_disp": s.disp, "img_name": s.img_name}


@OBJECT_REGISTRY.register
class SceneFlowFromImage(SampleDataset):
    """SceneFlow read from the raw tree (PNG frames + PFM disparities) through a list file.

    Args:
        data_path: the SceneFlow root, to which listed paths are relative.
        data_list: a three-column list file (relative to ``data_path`` if it exists there);
            default: ``SceneFlow_finalpass_<split>.txt`` in ``data_path``.
        split: ``"train"`` or ``"test"``, used when ``data_list`` is None.
        transforms: a callable, a list of callables (applied in order) or None.
        to_rgb: images in RGB order (else BGR).
        data_dir, list_file: aliases of ``data_path`` and ``data_list``.
    """

    def __init__(
        self,
        data_path: str | None = None,
        data_list: str | None = None,
        split: str = "test",
        transforms: Transforms = None,
        to_rgb: bool = True,
        *,
        data_dir: str | None = None,
        list_file: str | None = None,
    ) -> None:
        root = data_path if data_path is not None else data_dir
        if root is None:
            raise ValueError("SceneFlowFromImage: data_path (the SceneFlow root) is required")
        super().__init__(root, transforms, to_rgb)
        self.data_list = data_list if data_list is not None else list_file
        self.split = split
        self.layout = SceneFlowLayout(self.data_path)
        self.entries = self.layout.entries(split, self.data_list)

    def __len__(self) -> int:
        return len(self.entries)

    def _load(self, idx: int) -> dict:
        entry = self.entries[idx]
        left, right, disp = self.layout.read_sample(entry, self.to_rgb)
        return {"img": [left, right], "gt_disp": disp, "img_name": entry.left}

    def _repr_source(self) -> str:
        source = self.data_list if self.data_list is not None else f"split={self.split!r}"
        return f"{source}, "
