"""``RuntimeTracker``: MOTR's inference-time id bookkeeping (``RuntimeTrackerBase``).

After every frame, detect queries that score high enough are born as tracks with a new id, and
tracks that keep scoring low lose their id after ``miss_tolerance`` consecutive frames (the
query interaction module then stops carrying them).
"""

from __future__ import annotations

import torch

from hat.models.task_modules.motr.track_instances import TrackInstances
from hat.registry import OBJECT_REGISTRY

__all__ = ["RuntimeTracker"]


@OBJECT_REGISTRY.register
class RuntimeTracker:
    """Assigns and retires track ids from the per-query ``scores``.

    Args:
        score_thresh: a query with ``obj_idxes == -1`` and ``score >= score_thresh`` gets a new
            id; any query at or above it has its ``disappear_time`` reset to 0.
        filter_score_thresh: a track (``obj_idxes >= 0``) below it has ``disappear_time``
            incremented and loses its id (``-1``) once ``disappear_time >= miss_tolerance``.
        miss_tolerance: consecutive low-score frames a track survives (it is retired on the
            ``miss_tolerance``-th).

    A track scoring in ``[filter_score_thresh, score_thresh)`` is left as is (its miss count
    neither grows nor resets). New ids count from 0 across calls until :meth:`reset`, and are
    given in query order.
    """

    def __init__(
        self, score_thresh: float = 0.7, filter_score_thresh: float = 0.6, miss_tolerance: int = 5
    ) -> None:
        self.score_thresh = float(score_thresh)
        self.filter_score_thresh = float(filter_score_thresh)
        self.miss_tolerance = int(miss_tolerance)
        self.max_obj_id = 0

    def reset(self) -> None:
        """Start a new sequence: ids count from 0 again."""
        self.max_obj_id = 0

    @torch.no_grad()
    def update(self, track_instances: TrackInstances) -> None:
        """Update ``obj_idxes`` and ``disappear_time`` of ``track_instances`` in place."""
        scores = track_instances.scores
        obj_idxes = track_instances.obj_idxes
        disappear_time = track_instances.disappear_time
        disappear_time[scores >= self.score_thresh] = 0
        new_obj = (obj_idxes == -1) & (scores >= self.score_thresh)
        missed = (obj_idxes >= 0) & (scores < self.filter_score_thresh)
        num_new = int(new_obj.sum())
        obj_idxes[new_obj] = self.max_obj_id + torch.arange(
            num_new, dtype=obj_idxes.dtype, device=obj_idxes.device
        )
        self.max_obj_id += num_new
        disappear_time[missed] += 1
        obj_idxes[missed & (disappear_time >= self.miss_tolerance)] = -1

    def __repr__(self) -> str:
        return (
            f"RuntimeTracker(score_thresh={self.score_thresh}, "
            f"filter_score_thresh={self.filter_score_thresh}, "
            f"miss_tolerance={self.miss_tolerance}, max_obj_id={self.max_obj_id})"
        )
