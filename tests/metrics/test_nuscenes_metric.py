"""NuscenesMetric: batches of model outputs (ego frame) give nuscenes-devkit's mAP and NDS,
over DDP ranks too; its box conversion and attribute rule by hand; bad input."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch
from gloo_ranks import on_two_ranks
from nuscenes_dataroot import (
    assert_summaries_equal,
    build_dataroot,
    devkit_eval,
    make_predictions,
    metric_batch,
    results_json,
)

from hat.metrics.nuscenes.geometry import matrix_to_quaternion, quaternion_yaw, rotation_matrices
from hat.metrics.nuscenes.metric import NuscenesMetric, default_attributes, predictions_to_global
from hat.registry import build_from_registry


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuscenes_metric")
    info = build_dataroot(root / "data")
    empty = root / "empty.json"
    empty.write_text(json.dumps(results_json(info, make_predictions(info, "empty"))))
    _, nusc = devkit_eval(info.root, empty, root / "o")
    return info, metric_batch(nusc, info.eval_tokens)


def _slice(batch, lo, hi):
    return {k: v[lo:hi] for k, v in batch.items()}


def _as_tensors(outputs):
    return [
        {k: torch.as_tensor(v) if k != "attributes" else v for k, v in o.items()} for o in outputs
    ]


@pytest.mark.parametrize("case", ["perfect", "jittered", "empty"])
def test_equals_devkit(data, tmp_path, case):
    info, batch = data
    outputs = make_predictions(info, case, seed=1)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results_json(info, outputs)))
    ref, _ = devkit_eval(info.root, path, tmp_path / "devkit")
    metric = NuscenesMetric(log_per_class=False)
    n = len(info.eval_tokens)
    for lo in range(0, n, 3):  # batches of 3 samples, outputs as tensors
        metric.update(_slice(batch, lo, lo + 3), _as_tensors(outputs[lo : lo + 3]))
    assert_summaries_equal(metric.results().serialize(), ref)
    values = metric.get_dict()
    assert list(values) == ["mAP", "NDS"]
    assert values["mAP"] == pytest.approx(ref["mean_ap"], abs=1e-6)
    assert values["NDS"] == pytest.approx(ref["nd_score"], abs=1e-6)
    if case == "perfect":
        assert values["mAP"] == pytest.approx(0.9)
    metric.reset()
    assert metric.compute() == [0.0, 0.0]  # nothing seen: no detection


def _rank_fn(rank, parts):
    metric = NuscenesMetric(log_per_class=False)
    batch, outputs = parts[rank]
    metric.update(batch, outputs)
    return metric.get_dict()


def test_two_ranks_equal_one_process(data, tmp_path):
    """Each rank sees part of the split (one sample on both, as a padded distributed sampler
    gives); get() gathers all samples on every rank and counts the shared one once."""
    info, batch = data
    outputs = make_predictions(info, "jittered", seed=2)
    single = NuscenesMetric(log_per_class=False)
    single.update(batch, outputs)
    expected = single.get_dict()
    parts = [
        (_slice(batch, 0, 5), outputs[0:5]),
        (_slice(batch, 4, 8), outputs[4:8]),
    ]
    got = on_two_ranks(functools.partial(_rank_fn, parts=parts), tmp_path)
    assert got == expected
    alone = NuscenesMetric(log_per_class=False)
    alone.update(*parts[0])
    assert alone.get_dict() != expected  # rank 0's share alone is another result


def test_registered_with_config(tmp_path):
    metric = build_from_registry({"type": "NuscenesMetric", "name": ["mAP_3d", "NDS_3d"]})
    assert isinstance(metric, NuscenesMetric) and metric.name == ["mAP_3d", "NDS_3d"]
    cfg = metric.cfg.serialize()
    cfg["class_range"]["car"] = 20
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    assert NuscenesMetric(config=path).cfg.class_range["car"] == 20
    assert NuscenesMetric(config=cfg).cfg.class_range["car"] == 20


def test_predictions_to_global_by_hand():
    yaw_ego = np.pi / 2
    ego2global = np.eye(4)
    ego2global[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # 90 degrees about z
    ego2global[:3, 3] = [10.0, 20.0, 1.0]
    boxes = np.array([[2.0, 0.0, 0.5, 1.9, 4.6, 1.7, 0.3, 1.0, 0.0]])
    g = predictions_to_global(boxes, ego2global)
    np.testing.assert_allclose(g["translation"], [[10.0, 22.0, 1.5]], atol=1e-12)
    np.testing.assert_allclose(g["size"], [[1.9, 4.6, 1.7]])
    np.testing.assert_allclose(g["velocity"], [[0.0, 1.0]], atol=1e-12)
    assert quaternion_yaw(g["rotation"])[0] == pytest.approx(yaw_ego + 0.3)
    assert predictions_to_global(np.zeros((0, 9)), ego2global)["rotation"].shape == (0, 4)


def test_default_attributes_rule():
    names = ["car", "car", "bus", "bus", "bicycle", "pedestrian", "pedestrian", "barrier"]
    speed = np.array([1.0, 0.1, 0.0, 0.3, 0.5, 0.5, 0.0, 2.0])
    assert default_attributes(names, speed) == [
        "vehicle.moving",
        "vehicle.parked",
        "vehicle.stopped",
        "vehicle.moving",
        "cycle.with_rider",
        "pedestrian.moving",
        "pedestrian.standing",
        "",
    ]


def test_keeps_the_best_boxes_per_sample_and_rejects_bad_input(data):
    info, batch = data
    one = _slice(batch, 0, 1)
    cfg = NuscenesMetric().cfg.serialize()
    cfg["max_boxes_per_sample"] = 2
    metric = NuscenesMetric(config=cfg, log_per_class=False)
    boxes = np.tile([[5.0, 0.0, 0.0, 2.0, 4.0, 1.5, 0.0, 0.0, 0.0]], (3, 1))
    metric.update(one, [{"bboxes": boxes, "scores": [0.2, 0.9, 0.5], "labels": [0, 0, 0]}])
    kept = metric._samples[info.eval_tokens[0]]["pred"]
    assert kept["score"].tolist() == [0.9, 0.5]
    with pytest.raises(KeyError, match="no 'scores'"):
        metric.update(one, [{"bboxes": boxes, "labels": [0, 0, 0]}])
    with pytest.raises(ValueError, match=r"label\(s\) \[10\] outside \[0, 10\)"):
        metric.update(one, [{"bboxes": boxes, "scores": [1, 1, 1], "labels": [0, 10, 0]}])
    with pytest.raises(ValueError, match="2 outputs for a batch of 1"):
        metric.update(one, [{}, {}])
    no_token = {k: v for k, v in one.items() if k != "sample_token"}
    with pytest.raises(KeyError, match="no 'sample_token'"):
        metric.update(no_token, [{}])
    assert not math.isnan(metric.compute()[1])


def test_matrix_to_quaternion_round_trip():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(200, 4))
    q[:4] = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]  # each Shepperd branch
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    r = rotation_matrices(q)
    back = matrix_to_quaternion(r)
    np.testing.assert_allclose(rotation_matrices(back), r, atol=1e-12)
    np.testing.assert_allclose(np.abs((back * q).sum(axis=1)), 1.0, atol=1e-12)  # +-q
    assert (back[:, 0] >= 0).all()
