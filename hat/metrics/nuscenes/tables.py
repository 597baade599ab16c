"""Ground truth of the nuScenes detection benchmark read from the raw tables of a dataroot,
without nuscenes-devkit (its ``load_gt``, ``box_velocity``, LIDAR_TOP ego poses and bike
racks)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hat.data.readers.nuscenes_constants import category_to_detection_name
from hat.data.readers.nuscenes_splits import SPLIT_VERSIONS, scene_names
from hat.errors import UserInputError
from hat.metrics.nuscenes.boxes import ATTRIBUTE_INDEX, CLASS_INDEX, EvalBoxes

__all__ = ["GroundTruth", "load_gt"]

_TABLES = (
    "sample",
    "sample_data",
    "sample_annotation",
    "instance",
    "category",
    "attribute",
    "calibrated_sensor",
    "sensor",
    "ego_pose",
    "scene",
)
BIKE_RACK = "static_object.bicycle_rack"
MAX_TIME_DIFF = 1.5  # s, the devkit's box_velocity default


@dataclass
class GroundTruth:
    """Ground truth boxes of a split with what the filters need: the LIDAR_TOP ego position
    ``(S, 3)`` and the bike racks ``(K, 10)`` of each sample (``boxes.sample_tokens`` order)."""

    boxes: EvalBoxes
    ego_translation: np.ndarray
    bike_racks: list[np.ndarray]


class _Tables:
    def __init__(self, table_root: Path) -> None:
        self.root = table_root
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.index: dict[str, dict[str, int]] = {}
        for name in _TABLES:
            path = table_root / f"{name}.json"
            try:
                rows = json.loads(path.read_text())
            except FileNotFoundError:
                raise UserInputError(f"nuScenes table {path} does not exist") from None
            except json.JSONDecodeError as exc:
                raise UserInputError(f"nuScenes table {path}: not valid JSON ({exc})") from None
            if not isinstance(rows, list):
                raise UserInputError(f"nuScenes table {path}: expected a JSON list of records")
            self.rows[name] = rows
            self.index[name] = {r["token"]: i for i, r in enumerate(rows)}

    def get(self, table: str, token: str, referrer: str) -> dict[str, Any]:
        try:
            return self.rows[table][self.index[table][token]]
        except KeyError:
            raise UserInputError(
                f"{self.root / (table + '.json')}: no record with token {token!r} "
                f"(referenced by {referrer})"
            ) from None


def _field(rec: dict[str, Any], key: str, table: str) -> Any:
    try:
        return rec[key]
    except KeyError:
        raise UserInputError(
            f"{table}.json record {rec.get('token', '?')!r} has no field {key!r}"
        ) from None


def _velocities(t: _Tables, anns: list[dict[str, Any]]) -> np.ndarray:
    """``(N, 2)`` global velocities (NaN when unknown) as the devkit's ``box_velocity``:
    centred difference over the previous and next annotation of the instance, else one-sided;
    none when the time gap exceeds 1.5 s (3 s centred)."""
    out = np.full((len(anns), 2), np.nan)
    for k, cur in enumerate(anns):
        has_prev, has_next = cur["prev"] != "", cur["next"] != ""
        if not has_prev and not has_next:
            continue
        ref = f"sample_annotation {cur['token']!r}"
        first = t.get("sample_annotation", cur["prev"], ref) if has_prev else cur
        last = t.get("sample_annotation", cur["next"], ref) if has_next else cur
        pos_diff = np.array(last["translation"]) - np.array(first["translation"])
        time_last = 1e-6 * t.get("sample", last["sample_token"], ref)["timestamp"]
        time_first = 1e-6 * t.get("sample", first["sample_token"], ref)["timestamp"]
        time_diff = time_last - time_first
        max_time_diff = MAX_TIME_DIFF * 2 if has_prev and has_next else MAX_TIME_DIFF
        if time_diff <= max_time_diff:
            out[k] = (pos_diff / time_diff)[:2]
    return out


def load_gt(dataroot: str | Path, version: str, eval_set: str) -> GroundTruth:
    """The detection ground truth of split ``eval_set`` of ``dataroot/version``.

    Samples in ``sample.json`` order whose scene is in the split; per sample its annotations
    in ``sample_annotation.json`` order, detection classes only (category mapping of the
    devkit), with the attribute name ('' when none), lidar + radar point count and velocity.
    """
    table_root = Path(dataroot) / version
    if not table_root.is_dir():
        raise UserInputError(f"nuScenes version folder {table_root} does not exist")
    split_scenes = set(scene_names(eval_set))
    expected = SPLIT_VERSIONS[eval_set]
    if not version.endswith(expected.rsplit("-", 1)[-1]):
        raise UserInputError(
            f"split {eval_set!r} belongs to {expected}, not to version {version!r}"
        )
    t = _Tables(table_root)
    if eval_set == "test" and not t.rows["sample_annotation"]:
        raise UserInputError(f"{table_root}: the test split has no annotations to evaluate on")
    attribute_names = {a["token"]: a["name"] for a in t.rows["attribute"]}
    channel_of_cs = {}
    for cs in t.rows["calibrated_sensor"]:
        sensor = t.get("sensor", cs["sensor_token"], f"calibrated_sensor {cs['token']!r}")
        channel_of_cs[cs["token"]] = sensor["channel"]

    samples = []
    for s in t.rows["sample"]:
        scene = t.get("scene", _field(s, "scene_token", "sample"), f"sample {s['token']!r}")
        if scene["name"] in split_scenes:
            samples.append(s["token"])
    if not t.rows["sample"]:
        raise UserInputError(f"{table_root / 'sample.json'}: the database has no samples")
    pos = {tok: i for i, tok in enumerate(samples)}

    lidar_pose: dict[str, str] = {}
    for sd in t.rows["sample_data"]:
        if sd["sample_token"] in pos and sd["is_key_frame"]:
            if channel_of_cs.get(sd["calibrated_sensor_token"]) == "LIDAR_TOP":
                lidar_pose[sd["sample_token"]] = sd["ego_pose_token"]
    ego = np.zeros((len(samples), 3))
    for i, tok in enumerate(samples):
        if tok not in lidar_pose:
            raise UserInputError(
                f"{table_root / 'sample_data.json'}: sample {tok!r} has no LIDAR_TOP key frame "
                "(its ego pose places the evaluation range)"
            )
        ego[i] = t.get("ego_pose", lidar_pose[tok], f"LIDAR_TOP sample_data of {tok!r}")[
            "translation"
        ]

    per_sample: list[list[dict[str, Any]]] = [[] for _ in samples]
    racks: list[list[list[float]]] = [[] for _ in samples]
    for ann in t.rows["sample_annotation"]:
        i = pos.get(ann["sample_token"])
        if i is None:
            continue
        ref = f"sample_annotation {ann['token']!r}"
        inst = t.get("instance", _field(ann, "instance_token", "sample_annotation"), ref)
        category = t.get("category", inst["category_token"], f"instance {inst['token']!r}")["name"]
        if category == BIKE_RACK:
            racks[i].append([*ann["translation"], *ann["size"], *ann["rotation"]])
        name = category_to_detection_name(category)
        if name is None:
            continue
        attrs = _field(ann, "attribute_tokens", "sample_annotation")
        if len(attrs) > 1:
            raise UserInputError(f"{ref}: a ground truth box must not have more than 1 attribute")
        if attrs and attrs[0] not in attribute_names:
            raise UserInputError(f"{table_root / 'attribute.json'}: no record {attrs[0]!r} ({ref})")
        if attrs and attribute_names[attrs[0]] not in ATTRIBUTE_INDEX:
            raise UserInputError(
                f"{ref}: attribute {attribute_names[attrs[0]]!r} is not a nuScenes attribute"
            )
        ann = dict(ann, _name=name, _attr=attribute_names[attrs[0]] if attrs else "")
        per_sample[i].append(ann)

    columns = []
    for anns in per_sample:
        columns.append(
            {
                "translation": [a["translation"] for a in anns],
                "size": [a["size"] for a in anns],
                "rotation": [a["rotation"] for a in anns],
                "velocity": _velocities(t, anns),
                "name": [CLASS_INDEX[a["_name"]] for a in anns],
                "attribute": [ATTRIBUTE_INDEX[a["_attr"]] for a in anns],
                "num_pts": [a["num_lidar_pts"] + a["num_radar_pts"] for a in anns],
            }
        )
    boxes = EvalBoxes.from_samples(samples, columns)
    return GroundTruth(boxes, ego, [np.asarray(r, dtype=np.float64).reshape(-1, 10) for r in racks])
