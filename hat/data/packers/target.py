"""Where a packer writes: the one meaning of ``--target-data-dir`` shared by every packer."""

from __future__ import annotations

import os

__all__ = ["split_lmdb_path", "make_receiving_dir"]


def split_lmdb_path(src_data_dir: str, target_data_dir: str | None, split_name: str) -> str:
    """The LMDB of split ``split_name``: ``<target_data_dir>/<split>_lmdb``.

    ``target_data_dir`` is the directory that *receives* ``<split>_lmdb`` (the tutorials'
    ``${target-data-dir}`` holding ``train_lmdb`` and ``val_lmdb``/``test_lmdb``); without it the
    source directory receives it. A ``target_data_dir`` already named ``<split>_lmdb`` is the
    LMDB itself (never ``train_lmdb/train_lmdb``).
    """
    name = f"{split_name}_lmdb"
    parent = os.path.normpath(os.fspath(target_data_dir or src_data_dir))
    return parent if os.path.basename(parent) == name else os.path.join(parent, name)


def make_receiving_dir(lmdb_path: str) -> None:
    """Create the directory that receives ``lmdb_path`` (a new ``--target-data-dir``); called
    when packing starts, after the arguments were checked."""
    os.makedirs(os.path.dirname(os.fspath(lmdb_path)) or ".", exist_ok=True)
