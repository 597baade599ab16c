"""``<target>/metas``: the map-expansion files the map-segmentation targets read.

The packer copies ``<dataroot>/maps/expansion/*.json`` to ``<target>/metas/maps/expansion/`` (the
devkit's layout, so ``metas`` is a dataroot for the map API too). Each file is checked to be a
map-expansion JSON first; the copy is staged in ``metas.tmp-<pid>`` and moved into place only
after the LMDB is complete, so a failed pack leaves neither.
"""

from __future__ import annotations

import json
import os
import shutil

from hat.data.errors import CorruptFileError
from hat.data.pack_type.leftovers import remove_dead_leftovers

__all__ = ["MAP_KEYS", "MetasStage", "check_map_file", "expansion_dir", "map_files"]

#: What every map-expansion JSON must hold (the devkit's map API loads these unconditionally).
MAP_KEYS = ("version", "node", "line", "polygon")


def expansion_dir(root: str) -> str:
    """``<root>/maps/expansion``: where a dataroot (or a packed ``metas``) keeps the maps."""
    return os.path.join(root, "maps", "expansion")


def map_files(dataroot: str, locations: list[str]) -> list[str]:
    """The checked map-expansion JSONs of ``dataroot``: every ``*.json`` there, which must
    include one per location in ``locations``. Errors name the file and what is wrong."""
    folder = expansion_dir(dataroot)
    for location in locations:
        path = os.path.join(folder, f"{location}.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"nuScenes map expansion not found: {path} (location {location!r} of the split; "
                "the map expansion pack v1.3 unpacks into maps/expansion/)"
            )
    files = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json"))
    for path in files:
        check_map_file(path)
    return files


def check_map_file(path: str) -> None:
    """CorruptFileError unless ``path`` is a JSON object holding :data:`MAP_KEYS`."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path}: not a map-expansion JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    missing = [k for k in MAP_KEYS if k not in data]
    if missing:
        raise CorruptFileError(f"{path}: map-expansion JSON lacks {missing}")


class MetasStage:
    """Stage ``files`` into ``<metas>.tmp-<pid>`` (:meth:`stage`), then :meth:`commit` them as
    ``<metas>`` (replacing an older copy) or :meth:`abort`."""

    def __init__(self, metas_dir: str, files: list[str]) -> None:
        self.path = os.path.abspath(metas_dir)
        self.files = files
        self.tmp_path = f"{self.path}.tmp-{os.getpid()}"

    def stage(self) -> None:
        remove_dead_leftovers(self.path)
        _remove(self.tmp_path)
        folder = expansion_dir(self.tmp_path)
        os.makedirs(folder)
        for path in self.files:
            shutil.copyfile(path, os.path.join(folder, os.path.basename(path)))

    def commit(self) -> None:
        old = f"{self.path}.old-{os.getpid()}"
        if os.path.lexists(self.path):
            _remove(old)
            os.rename(self.path, old)
        os.rename(self.tmp_path, self.path)
        _remove(old)

    def abort(self) -> None:
        _remove(self.tmp_path)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)
