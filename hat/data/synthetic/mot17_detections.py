"""Public detections for the synthetic MOT17: one noise model per MOT17 detector name.

Each model detects a gt object with a probability that falls with occlusion and with small
size, jitters the box, fires now and then on static people, mannequins and reflections, adds
false positives at random places and scores everything on its own scale:

* ``DPM``: misses more (occluded and small people above all), large jitter, many false
  positives, scores of a deformable-part model (unbounded, about -1 .. 3, as MOT17's DPM);
* ``FRCNN``: few misses, small jitter, few false positives, scores in (0, 1);
* ``SDP``: the fewest misses (also on small people), the smallest jitter, scores in (0, 1).

Boxes are clipped to the image as detectors output them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hat.data.synthetic.mot17_scene import PEDESTRIAN, FrameObject

__all__ = ["DETECTOR_MODELS", "DetectorModel", "simulate_detections"]


@dataclass(frozen=True)
class DetectorModel:
    """The noise of one public detector."""

    name: str
    recall: float  # detection probability of a fully visible, large pedestrian
    min_visibility: float  # at or below: never detected
    small: float  # height (fraction of the image) below which recall falls
    jitter: float  # box noise std, fraction of the box size
    false_positives: float  # per frame, mean
    other_rate: float  # factor on the probability for classes 7, 8, 12
    score_tp: tuple[float, float, float]  # mean at visibility 0, gain per visibility, std
    score_fp: tuple[float, float]  # mean, std
    unit_range: bool  # scores are the logistic of the above: in (0, 1)


DETECTOR_MODELS = {
    "DPM": DetectorModel("DPM", 0.78, 0.25, 0.16, 0.07, 2.0, 0.6, (0.2, 1.8, 0.55), (-0.5, 0.4),
                         False),
    "FRCNN": DetectorModel("FRCNN", 0.93, 0.1, 0.08, 0.035, 0.6, 0.35, (1.5, 3.0, 1.0),
                           (-1.0, 1.2), True),
    "SDP": DetectorModel("SDP", 0.96, 0.05, 0.05, 0.025, 0.4, 0.3, (2.0, 3.0, 0.8),
                         (-1.5, 1.2), True),
}  # fmt: skip


def simulate_detections(
    model: DetectorModel,
    objects: list[FrameObject],
    width: int,
    height: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Detections of one frame: ``(boxes (M, 4) float64 ltwh, scores (M,))``."""
    boxes, scores = [], []
    for obj in objects:
        l, t, w, h = (float(v) for v in obj.box)
        vis = obj.visibility
        p = model.recall * np.clip(
            (vis - model.min_visibility) / (0.7 - model.min_visibility), 0, 1
        )
        p *= np.clip(h / height / model.small, 0, 1)
        if obj.cls != PEDESTRIAN:
            p *= model.other_rate
        if rng.random() >= p:
            continue
        j = model.jitter
        cx = l + w / 2 + rng.normal(0, j * w)
        cy = t + h / 2 + rng.normal(0, j * h * 0.5)
        w *= float(np.exp(rng.normal(0, j)))
        h *= float(np.exp(rng.normal(0, j)))
        boxes.append((cx - w / 2, cy - h / 2, w, h))
        mean, gain, std = model.score_tp
        scores.append(rng.normal(mean + gain * vis, std))
    for _ in range(int(rng.poisson(model.false_positives))):
        h = rng.uniform(0.06, 0.35) * height
        w = h * rng.uniform(0.3, 0.5)
        boxes.append(
            (rng.uniform(-0.2 * w, width - 0.8 * w), rng.uniform(0, height - 0.9 * h), w, h)
        )
        scores.append(rng.normal(*model.score_fp))
    if not boxes:
        return np.zeros((0, 4)), np.zeros((0,))
    b = np.asarray(boxes, np.float64)
    x1 = np.clip(b[:, 0], 0, width)
    y1 = np.clip(b[:, 1], 0, height)
    x2 = np.clip(b[:, 0] + b[:, 2], 0, width)
    y2 = np.clip(b[:, 1] + b[:, 3], 0, height)
    out = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    s = np.asarray(scores, np.float64)
    if model.unit_range:
        s = 1.0 / (1.0 + np.exp(-s))
    keep = (out[:, 2] >= 2) & (out[:, 3] >= 4)
    return out[keep], s[keep]
