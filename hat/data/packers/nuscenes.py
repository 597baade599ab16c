"""Pack a nuScenes split into ``<target>/<version>/<split>_lmdb`` and ``<target>/metas``.

One record per key frame (schema: :mod:`hat.data.codecs.nuscenes`), in the split's scene order
(``scene.json``) and time order within a scene. The tables are read, every reference checked and
every camera file looked for before anything is written; the reader processes then only read
the 6 JPEG files of a frame (their headers are checked against ``sample_data``). ``metas``
(:mod:`hat.data.packers.nuscenes_metas`) is replaced once the LMDB is complete. Any bad input,
Ctrl-C or SIGTERM leaves nothing at the target (no new directory either).
"""

from __future__ import annotations

import os

from hat.data.codecs.nuscenes import IMG_FORMATS, check_jpeg, encode_frame
from hat.data.packers.base import SamplePacker
from hat.data.packers.nuscenes_metas import MetasStage, map_files
from hat.data.readers.nuscenes_layout import NuscenesFrame, NuscenesLayout, read_file_bytes
from hat.data.readers.nuscenes_splits import split_scene_names

__all__ = ["NuscenesPacker", "load_frame_value"]


def load_frame_value(dataroot: str, frame: NuscenesFrame, img_format: str = "jpg") -> dict:
    """Read the camera files of ``frame`` under ``dataroot`` and return its LMDB value."""
    jpegs = []
    for view in frame.cameras:
        data = read_file_bytes(dataroot, view.filename)
        check_jpeg(data, view.width, view.height, os.path.join(dataroot, view.filename))
        jpegs.append(data)
    return encode_frame(frame, jpegs)


class NuscenesPacker(SamplePacker):
    """Pack split ``split_name`` of nuScenes ``version`` at ``src_data_dir``.

    Args:
        src_data_dir: the nuScenes dataroot (``samples/``, ``maps/``, ``<version>/``).
        target_data_dir: receives ``<version>/<split>_lmdb`` and ``metas``.
        split_name: an official split of ``version`` (``train``/``val`` of ``v1.0-trainval``,
            ``mini_train``/``mini_val`` of ``v1.0-mini``, ``test``) or one of
            ``<src>/<version>/splits.json``.
        num_workers: reader processes; 0 or 1 reads in this process.
        pack_type: only ``"lmdb"``.
        img_format: only ``"jpg"`` (the camera files as stored).
        overwrite: replace an existing LMDB once the new one is complete.
        num_samples: pack only the first N key frames (for quick experiments).
        version: the table folder, e.g. ``"v1.0-trainval"``.
    """

    load_value = staticmethod(load_frame_value)
    unit = "frame"
    chunksize = 2
    commit_every = 16

    def __init__(
        self,
        src_data_dir: str,
        target_data_dir: str,
        split_name: str = "train",
        num_workers: int = 4,
        pack_type: str = "lmdb",
        img_format: str = "jpg",
        overwrite: bool = False,
        num_samples: int | None = None,
        version: str = "v1.0-trainval",
    ) -> None:
        if not target_data_dir:
            raise ValueError("NuscenesPacker: target_data_dir is required (--target-data-dir)")
        split_scene_names(split_name, src_data_dir, version)  # an unknown split fails first
        super().__init__(
            src_data_dir,
            os.path.join(os.fspath(target_data_dir), version),
            split_name,
            num_workers,
            pack_type,
            img_format,
            overwrite,
            splits=(split_name,),
            img_formats=IMG_FORMATS,
        )
        self.version = version
        self.target_root = os.path.abspath(os.fspath(target_data_dir))
        self.metas_dir = os.path.join(self.target_root, "metas")
        if os.path.lexists(self.target) and not overwrite:
            raise FileExistsError(
                f"{self.target} already exists; refusing to overwrite it (pass --overwrite, or "
                "choose another target)"
            )
        nusc = NuscenesLayout(src_data_dir, version)
        self.layout = nusc.dataroot  # what a reader process needs besides the frame itself
        self.samples: list[NuscenesFrame] = nusc.frames(split_name)
        if num_samples is not None:
            self.samples = self.samples[: int(num_samples)]
        if not self.samples:
            raise ValueError(f"{src_data_dir}: split {split_name!r} of {version} has no key frame")
        missing = nusc.missing_images(self.samples)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise FileNotFoundError(f"nuScenes camera image not found: {missing[0]}{more}")
        locations = sorted({f.location for f in self.samples})
        self.map_files = map_files(nusc.dataroot, locations)

    def __call__(self) -> int:
        """Pack; return the number of key frames written."""
        created = _missing_dirs(self.target)
        metas = MetasStage(self.metas_dir, self.map_files)
        try:
            os.makedirs(self.target_root, exist_ok=True)
            metas.stage()
            count = super().__call__()
            metas.commit()
        except BaseException:
            metas.abort()
            for path in reversed(created):
                _rmdir_if_empty(path)
            raise
        return count

    run = __call__


def _missing_dirs(lmdb_path: str) -> list[str]:
    """The ancestors of ``lmdb_path`` that do not exist yet, outermost first."""
    missing = []
    parent = os.path.dirname(os.path.abspath(lmdb_path))
    while parent and not os.path.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    return missing[::-1]


def _rmdir_if_empty(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass
