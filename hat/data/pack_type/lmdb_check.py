"""Checks an opened LMDB must pass before anything reads it."""

from __future__ import annotations

import os

import lmdb

from hat.data.errors import CorruptFileError

__all__ = ["check_data_file_size"]


def check_data_file_size(path: str, data_file: str, env: lmdb.Environment) -> None:
    """Refuse a data file shorter than the LMDB's last used page needs.

    LMDB maps the file and trusts its meta page: reading a page past the end of a truncated file
    (an interrupted copy or download) kills the process with a bus error instead of an error.
    """
    psize = int(env.stat()["psize"])
    last_pgno = int(env.info()["last_pgno"])
    needed = (last_pgno + 1) * psize
    size = os.path.getsize(data_file)
    if size < needed:
        raise CorruptFileError(
            f"{path}: truncated LMDB: {data_file} has {size} bytes but its last page "
            f"(#{last_pgno}, {psize}-byte pages) ends at byte {needed}; copy or re-pack it"
        )
