"""The 13 JSON tables of a nuScenes version folder (``<dataroot>/<version>/<table>.json``).

Every table is a JSON list of records, each with a ``token``. :class:`NuscenesTables` loads them
and indexes the tokens; a reference to a record that is not there is an error naming both ends
and the file that should hold it, e.g. ``sample_data 'abc' references calibrated_sensor 'xyz'
which is not in v1.0-mini/calibrated_sensor.json``. Tables of the real download that carry
records the packer does not use (sweeps, radar, non-key frames) load unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from hat.data.errors import CorruptFileError

__all__ = ["TABLE_NAMES", "NuscenesTables"]

#: The tables of a version folder (nuscenes-devkit's ``NuScenes.table_names``).
TABLE_NAMES = (
    "category",
    "attribute",
    "visibility",
    "instance",
    "sensor",
    "calibrated_sensor",
    "ego_pose",
    "log",
    "scene",
    "sample",
    "sample_data",
    "sample_annotation",
    "map",
)


class NuscenesTables:
    """The tables of ``<dataroot>/<version>``, indexed by token.

    Args:
        dataroot: the nuScenes root (holding ``samples/``, ``maps/`` and ``<version>/``).
        version: e.g. ``"v1.0-mini"``, ``"v1.0-trainval"``.
        tables: which tables to load (default all 13).
    """

    def __init__(
        self, dataroot: str | os.PathLike, version: str, tables: tuple[str, ...] = TABLE_NAMES
    ) -> None:
        self.dataroot = os.fspath(dataroot)
        self.version = version
        version_dir = os.path.join(self.dataroot, version)
        if not os.path.isdir(version_dir):
            raise FileNotFoundError(
                f"nuScenes version folder not found: {version_dir} (expected the 13 table JSONs "
                f"of {version} there)"
            )
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._index: dict[str, dict[str, dict[str, Any]]] = {}
        for name in tables:
            if name not in TABLE_NAMES:
                raise ValueError(f"unknown nuScenes table {name!r}: expected one of {TABLE_NAMES}")
            rows = _load_table(os.path.join(version_dir, f"{name}.json"), self.file(name))
            self._rows[name] = rows
            self._index[name] = {row["token"]: row for row in rows}

    def file(self, table: str) -> str:
        """The table's file relative to the dataroot, as errors name it: ``v1.0-mini/map.json``."""
        return f"{self.version}/{table}.json"

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The records of ``table`` in file order."""
        return self._rows[table]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def has(self, table: str, token: str) -> bool:
        return token in self._index[table]

    def get(self, table: str, token: str) -> dict[str, Any]:
        """The record ``token`` of ``table``; a missing one names the table file."""
        try:
            return self._index[table][token]
        except KeyError:
            raise CorruptFileError(f"{table} {token!r} is not in {self.file(table)}") from None

    def ref(self, table: str, record: dict[str, Any], field: str, target: str) -> dict[str, Any]:
        """The ``target`` record that ``record`` (of ``table``) references through ``field``."""
        return self.resolve(table, record["token"], target, self.field(table, record, field))

    def resolve(self, table: str, owner: str, target: str, token: str) -> dict[str, Any]:
        """The ``target`` record ``token`` referenced by record ``owner`` of ``table``."""
        try:
            return self._index[target][token]
        except (KeyError, TypeError):
            raise CorruptFileError(
                f"{table} {owner!r} references {target} {token!r} which is not in "
                f"{self.file(target)}"
            ) from None

    def field(self, table: str, record: dict[str, Any], name: str) -> Any:
        """``record[name]``; a missing field names the table file and the record."""
        try:
            return record[name]
        except KeyError:
            raise CorruptFileError(
                f"{self.file(table)}: record {record.get('token')!r} lacks field {name!r}"
            ) from None


def _load_table(path: str, name: str) -> list[dict[str, Any]]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"nuScenes table not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path}: not a JSON table: {exc}") from None
    if not isinstance(rows, list):
        raise CorruptFileError(
            f"{name}: expected a JSON list of records, got {type(rows).__name__}"
        )
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("token"), str):
            raise CorruptFileError(f"{name}: record {i} is not an object with a string 'token'")
    return rows
