"""Parser of a nuScenes map expansion file (``maps/expansion/<location>.json``).

Only what the map-segmentation target needs is read: the geometric tables ``node`` (x, y in the
global frame, metres), ``line`` (``node_tokens``) and ``polygon`` (``exterior_node_tokens``,
``holes[].node_tokens``), and the layers ``road_segment``, ``lane``, ``ped_crossing``
(``polygon_token``) and ``road_divider``, ``lane_divider`` (``line_token``). Geometries are built
as nuscenes-devkit's ``NuScenesMapExplorer.extract_polygon`` / ``extract_line`` build them
(empty holes dropped; lines with fewer than 2 nodes skipped, as the devkit skips empty ones),
with one spatial index per layer for the per-sample patch query.

A malformed file raises :class:`~hat.data.errors.CorruptFileError` naming the file, the table
and the record (index and token) at fault.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from shapely import STRtree
from shapely.geometry import LineString, Polygon

from hat.data.errors import CorruptFileError

__all__ = ["LINE_LAYERS", "POLYGON_LAYERS", "MapExpansion", "MapLayer", "load_map_expansion"]

POLYGON_LAYERS = ("road_segment", "lane", "ped_crossing")
LINE_LAYERS = ("road_divider", "lane_divider")


@dataclass(frozen=True)
class MapLayer:
    """The geometries of one layer (record order) and their spatial index."""

    geoms: tuple[Any, ...]
    tokens: tuple[str, ...]
    tree: STRtree

    def query(self, region: Any) -> list[Any]:
        """Geometries whose bounding box meets ``region``'s, in record order."""
        return [self.geoms[i] for i in sorted(self.tree.query(region))]


@dataclass(frozen=True)
class MapExpansion:
    """The layers of one location's map expansion (global frame, metres)."""

    path: str
    layers: dict[str, MapLayer]

    def __getitem__(self, layer: str) -> MapLayer:
        return self.layers[layer]


def _table(data: dict, key: str, path: str) -> list:
    if key not in data:
        raise CorruptFileError(
            f"{path}: map expansion lacks the table {key!r} (expected the nuScenes map expansion "
            f"format with node, line, polygon, {', '.join(POLYGON_LAYERS + LINE_LAYERS)})"
        )
    table = data[key]
    if not isinstance(table, list):
        raise CorruptFileError(
            f"{path}: {key!r} must be a list of records, got {type(table).__name__}"
        )
    return table


def _field(record: Any, field: str, key: str, i: int, path: str) -> Any:
    if not isinstance(record, dict) or field not in record:
        token = record.get("token", "?") if isinstance(record, dict) else "?"
        raise CorruptFileError(f"{path}: {key}[{i}] (token {token!r}) lacks {field!r}")
    return record[field]


def _nodes(data: dict, path: str) -> dict[str, tuple[float, float]]:
    nodes = {}
    for i, rec in enumerate(_table(data, "node", path)):
        token = _field(rec, "token", "node", i, path)
        try:
            nodes[token] = (
                float(_field(rec, "x", "node", i, path)),
                float(_field(rec, "y", "node", i, path)),
            )
        except (TypeError, ValueError) as exc:
            raise CorruptFileError(
                f"{path}: node[{i}] (token {token!r}) has a non-numeric x/y: {exc}"
            ) from None
    return nodes


class _Resolver:
    """Node coordinates of token lists, with errors naming the referring record."""

    def __init__(self, nodes: dict[str, tuple[float, float]], path: str) -> None:
        self.nodes, self.path = nodes, path

    def coords(self, tokens: Any, where: str) -> np.ndarray:
        if not isinstance(tokens, list):
            raise CorruptFileError(f"{self.path}: {where} must be a list of node tokens")
        try:
            return np.array([self.nodes[t] for t in tokens], dtype=np.float64).reshape(-1, 2)
        except (KeyError, TypeError):
            missing = next(t for t in tokens if not isinstance(t, str) or t not in self.nodes)
            raise CorruptFileError(
                f"{self.path}: {where} references node {missing!r}, which is not in 'node'"
            ) from None


def _records_by_token(data: dict, key: str, path: str) -> dict[str, tuple[int, dict]]:
    out = {}
    for i, rec in enumerate(_table(data, key, path)):
        out[_field(rec, "token", key, i, path)] = (i, rec)
    return out


def _ref(records: dict, token: Any, table: str, where: str, path: str) -> tuple[int, dict]:
    if not isinstance(token, str) or token not in records:
        raise CorruptFileError(
            f"{path}: {where} references {table} {token!r}, which is not in {table!r}"
        )
    return records[token]


def _polygon(rec: dict, i: int, nodes: _Resolver, path: str) -> Polygon:
    where = f"polygon[{i}] (token {rec['token']!r})"
    exterior = nodes.coords(_field(rec, "exterior_node_tokens", "polygon", i, path), where)
    holes = []
    for j, hole in enumerate(_field(rec, "holes", "polygon", i, path)):
        if not isinstance(hole, dict) or "node_tokens" not in hole:
            raise CorruptFileError(f"{path}: {where} holes[{j}] lacks 'node_tokens'")
        ring = nodes.coords(hole["node_tokens"], f"{where} holes[{j}]")
        if len(ring):
            holes.append(ring)
    if len(exterior) < 3:
        raise CorruptFileError(f"{path}: {where} has {len(exterior)} exterior nodes, need >= 3")
    return Polygon(exterior, holes)


def load_map_expansion(path: str | os.PathLike) -> MapExpansion:
    """Parse ``path`` (a map expansion JSON) into the layers the map target draws."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"map expansion file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: not a valid JSON map expansion ({exc})") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    nodes = _Resolver(_nodes(data, path), path)
    lines = _records_by_token(data, "line", path)
    polygons = _records_by_token(data, "polygon", path)
    layers: dict[str, MapLayer] = {}
    for key in POLYGON_LAYERS:
        geoms, tokens = [], []
        for i, rec in enumerate(_table(data, key, path)):
            token = _field(rec, "polygon_token", key, i, path)
            j, prec = _ref(polygons, token, "polygon", f"{key}[{i}]", path)
            geoms.append(_polygon(prec, j, nodes, path))
            tokens.append(token)
        layers[key] = MapLayer(tuple(geoms), tuple(tokens), STRtree(geoms))
    for key in LINE_LAYERS:
        geoms, tokens = [], []
        for i, rec in enumerate(_table(data, key, path)):
            token = _field(rec, "line_token", key, i, path)
            j, lrec = _ref(lines, token, "line", f"{key}[{i}]", path)
            where = f"line[{j}] (token {token!r})"
            coords = nodes.coords(_field(lrec, "node_tokens", "line", j, path), where)
            if len(coords) >= 2:
                geoms.append(LineString(coords))
                tokens.append(token)
        layers[key] = MapLayer(tuple(geoms), tuple(tokens), STRtree(geoms))
    return MapExpansion(path, layers)
