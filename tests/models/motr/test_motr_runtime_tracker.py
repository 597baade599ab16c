"""RuntimeTracker: id birth at the score threshold, the miss-tolerance boundary, the dead band
between the two thresholds, and agreement with MOTR's per-query loop."""

from __future__ import annotations

import torch

from hat.models.task_modules.motr.runtime_tracker import RuntimeTracker
from hat.models.task_modules.motr.track_instances import TrackInstances, empty_track_instances
from hat.registry import build_from_registry


def _queries(scores, obj_idxes=None, disappear_time=None) -> TrackInstances:
    n = len(scores)
    t = empty_track_instances(torch.zeros(n, 8), torch.zeros(n, 2), 1)
    t.scores = torch.tensor(scores, dtype=torch.float)
    if obj_idxes is not None:
        t.obj_idxes = torch.tensor(obj_idxes, dtype=torch.long)
    if disappear_time is not None:
        t.disappear_time = torch.tensor(disappear_time, dtype=torch.long)
    return t


def test_new_ids_only_at_or_above_the_score_threshold_in_query_order():
    tracker = RuntimeTracker()
    t = _queries([0.2, 0.7, 0.69, 0.95, 0.71, 0.1])
    tracker.update(t)
    assert t.obj_idxes.tolist() == [-1, 0, -1, 1, 2, -1]
    assert tracker.max_obj_id == 3
    # ids continue across frames; existing tracks keep theirs
    t2 = _queries([0.9, 0.8, 0.75], obj_idxes=[1, -1, -1])
    tracker.update(t2)
    assert t2.obj_idxes.tolist() == [1, 3, 4]
    assert tracker.max_obj_id == 5
    tracker.reset()
    t3 = _queries([0.8])
    tracker.update(t3)
    assert t3.obj_idxes.tolist() == [0]


def test_only_minus_one_is_born():
    tracker = RuntimeTracker()
    t = _queries([0.9, 0.9], obj_idxes=[-2, -1])
    tracker.update(t)
    assert t.obj_idxes.tolist() == [-2, 0]


def test_track_is_retired_on_the_fifth_consecutive_low_score_frame():
    tracker = RuntimeTracker()
    t = _queries([0.9])
    tracker.update(t)
    assert t.obj_idxes.tolist() == [0]
    for miss in range(1, 5):
        t.scores = torch.tensor([0.59])
        tracker.update(t)
        assert t.obj_idxes.tolist() == [0], f"retired after {miss} misses"
        assert t.disappear_time.tolist() == [miss]
    t.scores = torch.tensor([0.59])
    tracker.update(t)
    assert t.obj_idxes.tolist() == [-1]
    assert t.disappear_time.tolist() == [5]
    # a retired query scoring low again is not counted, one scoring high is born anew
    tracker.update(t)
    assert t.obj_idxes.tolist() == [-1] and t.disappear_time.tolist() == [5]
    t.scores = torch.tensor([0.8])
    tracker.update(t)
    assert t.obj_idxes.tolist() == [1] and t.disappear_time.tolist() == [0]


def test_scores_between_the_thresholds_neither_reset_nor_count_misses():
    tracker = RuntimeTracker()
    t = _queries([0.9])
    tracker.update(t)
    for s, expected in [(0.5, 1), (0.5, 2), (0.6, 2), (0.65, 2), (0.699, 2), (0.3, 3)]:
        t.scores = torch.tensor([s])
        tracker.update(t)
        assert t.disappear_time.tolist() == [expected], s
        assert t.obj_idxes.tolist() == [0]
    t.scores = torch.tensor([0.7])
    tracker.update(t)
    assert t.disappear_time.tolist() == [0]
    # the count starts over after a reset: four more misses are survived
    for _ in range(4):
        t.scores = torch.tensor([0.1])
        tracker.update(t)
    assert t.obj_idxes.tolist() == [0] and t.disappear_time.tolist() == [4]


def test_a_detect_query_between_the_thresholds_is_not_born_nor_counted():
    tracker = RuntimeTracker()
    t = _queries([0.65, 0.1])
    tracker.update(t)
    assert t.obj_idxes.tolist() == [-1, -1] and t.disappear_time.tolist() == [0, 0]


def _motr_loop(tracker: RuntimeTracker, t: TrackInstances) -> None:
    """MOTR's ``RuntimeTrackerBase.update``, query by query."""
    t.disappear_time[t.scores >= tracker.score_thresh] = 0
    for i in range(len(t)):
        if t.obj_idxes[i] == -1 and t.scores[i] >= tracker.score_thresh:
            t.obj_idxes[i] = tracker.max_obj_id
            tracker.max_obj_id += 1
        elif t.obj_idxes[i] >= 0 and t.scores[i] < tracker.filter_score_thresh:
            t.disappear_time[i] += 1
            if t.disappear_time[i] >= tracker.miss_tolerance:
                t.obj_idxes[i] = -1


def test_matches_motr_per_query_loop_over_random_sequences():
    g = torch.Generator().manual_seed(0)
    for thresholds in [(0.7, 0.6, 5), (0.5, 0.6, 2)]:
        fast, loop = RuntimeTracker(*thresholds), RuntimeTracker(*thresholds)
        a = _queries([0.0] * 12)
        b = _queries([0.0] * 12)
        for _ in range(40):
            scores = torch.rand(12, generator=g)
            a.scores, b.scores = scores.clone(), scores.clone()
            fast.update(a)
            _motr_loop(loop, b)
            assert a.obj_idxes.tolist() == b.obj_idxes.tolist()
            assert a.disappear_time.tolist() == b.disappear_time.tolist()
        assert fast.max_obj_id == loop.max_obj_id > 0


def test_defaults_and_config_build():
    tracker = build_from_registry(dict(type="RuntimeTracker", miss_tolerance=3))
    assert isinstance(tracker, RuntimeTracker)
    assert (tracker.score_thresh, tracker.filter_score_thresh, tracker.miss_tolerance) == (
        0.7,
        0.6,
        3,
    )
    assert RuntimeTracker().miss_tolerance == 5
