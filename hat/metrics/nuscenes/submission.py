"""Read and check a detection results file in the nuScenes submission format:

``{"meta": {"use_camera": bool, ...}, "results": {sample_token: [box, ...], ...}}`` where each
box is ``{"sample_token", "translation": [x, y, z], "size": [w, l, h], "rotation": [w, x, y,
z], "velocity": [vx, vy], "detection_name", "detection_score", "attribute_name"}`` in global
coordinates (``num_pts`` optional). Errors name the sample, the box and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hat.errors import UserInputError
from hat.metrics.nuscenes.boxes import ATTRIBUTE_INDEX, CLASS_INDEX, EvalBoxes
from hat.metrics.nuscenes.config import DETECTION_NAMES

__all__ = ["META_KEYS", "load_results", "results_to_boxes"]

META_KEYS = ("use_camera", "use_lidar", "use_radar", "use_map", "use_external")
_VECTORS = {"translation": 3, "size": 3, "rotation": 4, "velocity": 2}
_BOX_KEYS = (*_VECTORS, "sample_token", "detection_name", "detection_score", "attribute_name")
_BOX_KEY_SET = frozenset(_BOX_KEYS)


def _number_list(box: Mapping[str, Any], key: str, n: int, where: str) -> list[float]:
    value = box[key]
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != n
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise UserInputError(f"{where}: {key!r} must be a list of {n} numbers, got {value!r}")
    if key != "velocity" and any(math.isnan(v) for v in value):
        raise UserInputError(f"{where}: {key!r} may not be NaN, got {value!r}")
    return [float(v) for v in value]


def _check_box(box: Any, token: str, where: str) -> dict[str, Any]:
    if not isinstance(box, Mapping):
        raise UserInputError(f"{where}: a box must be a JSON object, got {type(box).__name__}")
    missing = [k for k in _BOX_KEYS if k not in box]
    if missing:
        raise UserInputError(f"{where}: missing field(s) {missing}")
    if box["sample_token"] != token:
        raise UserInputError(
            f"{where}: 'sample_token' {box['sample_token']!r} differs from its results key"
        )
    out = {k: _number_list(box, k, n, where) for k, n in _VECTORS.items()}
    if min(out["size"]) <= 0:
        raise UserInputError(f"{where}: 'size' must be > 0, got {out['size']}")
    name = box["detection_name"]
    if name not in CLASS_INDEX:
        raise UserInputError(
            f"{where}: unknown 'detection_name' {name!r}; expected one of {list(DETECTION_NAMES)}"
        )
    attr = box["attribute_name"]
    if attr not in ATTRIBUTE_INDEX:
        raise UserInputError(
            f"{where}: unknown 'attribute_name' {attr!r}; expected '' or one of "
            f"{[a for a in ATTRIBUTE_INDEX if a]}"
        )
    score = box["detection_score"]
    if not isinstance(score, (int, float)) or isinstance(score, bool) or math.isnan(score):
        raise UserInputError(f"{where}: 'detection_score' must be a number, got {score!r}")
    num_pts = box.get("num_pts", -1)
    if not isinstance(num_pts, int) or isinstance(num_pts, bool):
        raise UserInputError(f"{where}: 'num_pts' must be an integer, got {num_pts!r}")
    out.update(
        name=CLASS_INDEX[name], attribute=ATTRIBUTE_INDEX[attr], score=float(score), num_pts=num_pts
    )
    return out


def _columns_fast(boxes: list[Any], token: str) -> dict[str, np.ndarray] | None:
    """The columns of a sample's boxes built with numpy, or None when anything is off (the
    box-by-box check then names the problem)."""
    try:
        if not all(isinstance(b, dict) and _BOX_KEY_SET <= b.keys() for b in boxes):
            return None
        if any(b["sample_token"] != token for b in boxes):
            return None
        cols: dict[str, np.ndarray] = {}
        for key, n in _VECTORS.items():
            a = np.array([b[key] for b in boxes])
            if a.dtype.kind not in "if" or a.shape != (len(boxes), n):
                return None
            cols[key] = a.astype(np.float64)
        if np.isnan(cols["translation"]).any() or np.isnan(cols["rotation"]).any():
            return None
        if not (cols["size"] > 0).all():  # NaN sizes fail here too
            return None
        scores = np.array([b["detection_score"] for b in boxes])
        if len(boxes) and (scores.dtype.kind not in "if" or np.isnan(scores).any()):
            return None
        cols["score"] = scores.astype(np.float64)
        cols["name"] = np.array([CLASS_INDEX[b["detection_name"]] for b in boxes], np.int64)
        attrs = [ATTRIBUTE_INDEX[b["attribute_name"]] for b in boxes]
        cols["attribute"] = np.array(attrs, dtype=np.int64)
        num_pts = [b.get("num_pts", -1) for b in boxes]
        if not all(type(v) is int for v in num_pts):
            return None
        cols["num_pts"] = np.array(num_pts, dtype=np.int64)
        return cols
    except (KeyError, TypeError, ValueError):
        return None


def results_to_boxes(
    results: Mapping[str, Any], max_boxes_per_sample: int, source: str = "results"
) -> EvalBoxes:
    """Checked boxes of a ``results`` mapping (sample token -> list of boxes), in its order."""
    tokens, columns = [], []
    for token, boxes in results.items():
        where = f"{source}[{token!r}]"
        if not isinstance(boxes, list):
            raise UserInputError(f"{where}: expected a list of boxes, got {type(boxes).__name__}")
        if len(boxes) > max_boxes_per_sample:
            raise UserInputError(
                f"{where}: {len(boxes)} boxes; at most {max_boxes_per_sample} per sample allowed"
            )
        cols = _columns_fast(boxes, token)
        if cols is None:
            checked = [_check_box(b, token, f"{where}[{i}]") for i, b in enumerate(boxes)]
            keys = (*_VECTORS, "name", "attribute", "score", "num_pts")
            cols = {k: [b[k] for b in checked] for k in keys}
            for k, n in _VECTORS.items():
                cols[k] = np.asarray(cols[k], dtype=np.float64).reshape(-1, n)
        tokens.append(token)
        columns.append(cols)
    return EvalBoxes.from_samples(tokens, columns)


def load_results(
    path: str | Path, max_boxes_per_sample: int, sample_tokens: Sequence[str] | None = None
) -> tuple[EvalBoxes, dict[str, Any]]:
    """The boxes and ``meta`` of a results file; with ``sample_tokens`` (the evaluated split),
    the file must hold exactly those samples (an empty list for a sample without detections)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserInputError(f"results file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"results file {path}: not valid JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise UserInputError(f"{path}: expected a JSON object with 'meta' and 'results'")
    for key in ("meta", "results"):
        if key not in data:
            raise UserInputError(
                f"{path}: no field {key!r} (the submission format has 'meta' and 'results')"
            )
        if not isinstance(data[key], Mapping):
            raise UserInputError(f"{path}: {key!r} must be a JSON object")
    meta = dict(data["meta"])
    for key in META_KEYS:
        if key in meta and not isinstance(meta[key], bool):
            raise UserInputError(f"{path}: meta {key!r} must be true or false, got {meta[key]!r}")
    results = data["results"]
    if sample_tokens is not None:
        missing = [t for t in sample_tokens if t not in results]
        expected = set(sample_tokens)
        extra = [t for t in results if t not in expected]
        if missing:
            raise UserInputError(
                f"{path}: results miss {len(missing)} sample(s) of the evaluated split, e.g. "
                f"{missing[:3]} (every sample must be present, with [] when nothing is detected)"
            )
        if extra:
            raise UserInputError(
                f"{path}: results hold {len(extra)} sample(s) not in the evaluated split, e.g. "
                f"{extra[:3]}"
            )
    return results_to_boxes(results, max_boxes_per_sample, f"{path}: results"), meta
