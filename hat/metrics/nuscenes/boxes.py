"""Boxes of the nuScenes evaluation, one column array per field (the devkit's ``EvalBoxes`` of
``DetectionBox``), grouped by sample in a fixed sample order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from hat.data.readers.nuscenes_constants import ATTRIBUTE_NAMES
from hat.metrics.nuscenes.config import DETECTION_NAMES

__all__ = ["ATTRIBUTE_INDEX", "CLASS_INDEX", "EvalBoxes"]

CLASS_INDEX = {name: i for i, name in enumerate(DETECTION_NAMES)}
# Attribute name -> index into ATTRIBUTE_NAMES; '' (no attribute) is -1.
ATTRIBUTE_INDEX = {"": -1, **{name: i for i, name in enumerate(ATTRIBUTE_NAMES)}}

_WIDTHS = {"translation": 3, "size": 3, "rotation": 4, "velocity": 2}


@dataclass
class EvalBoxes:
    """All boxes of a set of samples (ground truth or predictions), in global coordinates.

    Boxes are stored sample after sample in ``sample_tokens`` order (``sample`` is the index
    of each box's sample, nondecreasing); within a sample they keep their given order (the
    devkit's tie-breaks depend on it). A sample may have no box.

    - ``translation (N, 3)`` centre, ``size (N, 3)`` w, l, h, ``rotation (N, 4)`` w, x, y, z,
      ``velocity (N, 2)`` vx, vy in m/s (NaN when unknown)
    - ``name (N,)`` index into ``DETECTION_NAMES`` (the devkit's class order)
    - ``score (N,)`` detection score (-1 for ground truth)
    - ``attribute (N,)`` index into ``ATTRIBUTE_NAMES``, -1 for none
    - ``num_pts (N,)`` lidar + radar points in the box (-1: unknown, e.g. predictions)
    - ``ego_dist (N,)`` xy distance to the ego vehicle (NaN until :func:`add_center_dist`)
    """

    sample_tokens: list[str]
    sample: np.ndarray
    translation: np.ndarray
    size: np.ndarray
    rotation: np.ndarray
    velocity: np.ndarray
    name: np.ndarray
    score: np.ndarray
    attribute: np.ndarray
    num_pts: np.ndarray
    ego_dist: np.ndarray

    def __len__(self) -> int:
        return len(self.sample)

    @classmethod
    def from_samples(
        cls, sample_tokens: Sequence[str], per_sample: Sequence[Mapping[str, np.ndarray]]
    ) -> EvalBoxes:
        """Stack per-sample column dicts (keys: the array fields but ``sample``/``ego_dist``;
        ``score``, ``attribute``, ``num_pts`` optional) in ``sample_tokens`` order."""
        if len(sample_tokens) != len(per_sample):
            raise ValueError("EvalBoxes: one column dict per sample token expected")
        if len(set(sample_tokens)) != len(sample_tokens):
            raise ValueError("EvalBoxes: duplicate sample tokens")
        counts = [len(np.asarray(p["name"])) for p in per_sample]
        n = sum(counts)

        def column(key: str, dtype: type, default: float) -> np.ndarray:
            width = _WIDTHS.get(key)
            shape = (n,) if width is None else (n, width)
            parts = []
            for p, c in zip(per_sample, counts):
                if key in p:
                    a = np.asarray(p[key], dtype=dtype)
                    parts.append(a.reshape((c,) if width is None else (c, width)))
                else:
                    parts.append(np.full((c,) if width is None else (c, width), default, dtype))
            return np.concatenate(parts) if parts else np.zeros(shape, dtype)

        return cls(
            sample_tokens=list(sample_tokens),
            sample=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
            translation=column("translation", np.float64, 0.0),
            size=column("size", np.float64, 0.0),
            rotation=column("rotation", np.float64, 0.0),
            velocity=column("velocity", np.float64, np.nan),
            name=column("name", np.int64, 0),
            score=column("score", np.float64, -1.0),
            attribute=column("attribute", np.int64, -1),
            num_pts=column("num_pts", np.int64, -1),
            ego_dist=np.full(n, np.nan),
        )

    def subset(self, keep: np.ndarray) -> EvalBoxes:
        """The boxes where ``keep`` (bool, per box) is True; all samples stay."""
        keep = np.asarray(keep, dtype=bool)
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in out.items():
            if key != "sample_tokens":
                out[key] = value[keep]
        return EvalBoxes(**out)

    def count_per_sample(self) -> np.ndarray:
        return np.bincount(self.sample, minlength=len(self.sample_tokens))
