"""On a dataroot of the synthetic nuScenes generator (tools/datasets/make_synthetic.py
nuscenes), tools/nuscenes_eval.py and NuscenesMetric give nuscenes-devkit's figures."""

from __future__ import annotations

import json

import pytest
from nuscenes_dataroot import (
    assert_summaries_equal,
    dataroot_of_batch,
    devkit_eval,
    jitter_batch_predictions,
    metric_batch,
    results_json,
)

from hat.data.synthetic.nuscenes import make_nuscenes
from hat.metrics.nuscenes.metric import NuscenesMetric
from hat.tools.nuscenes_eval import evaluate_results_file


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nuscenes_synthetic")
    root = tmp / "data"
    make_nuscenes(
        str(root),
        version="v1.0-mini",
        num_train_scenes=0,
        num_val_scenes=1,
        frames_per_scene=4,
        height=16,
        width=32,
    )
    from nuscenes import NuScenes

    nusc = NuScenes(version="v1.0-mini", dataroot=str(root), verbose=False)
    scenes = {s["token"] for s in nusc.scene}
    tokens = [s["token"] for s in nusc.sample if s["scene_token"] in scenes]
    batch = metric_batch(nusc, tokens)
    outputs = jitter_batch_predictions(batch, seed=4)
    path = tmp / "results.json"
    path.write_text(json.dumps(results_json(dataroot_of_batch(root, batch), outputs)))
    ref, _ = devkit_eval(root, path, tmp / "devkit")
    return root, batch, outputs, path, ref


def test_cli_equals_devkit_on_the_synthetic_set(synthetic, tmp_path):
    root, _, _, path, ref = synthetic
    ours = evaluate_results_file(path, root, "v1.0-mini", "mini_val", tmp_path, verbose=False)
    assert_summaries_equal(ours, ref)
    assert 0.05 < ours["mean_ap"] < 0.95  # a real mix of hits and misses


def test_metric_equals_devkit_on_the_synthetic_set(synthetic):
    _, batch, outputs, _, ref = synthetic
    metric = NuscenesMetric(log_per_class=False)
    metric.update(batch, outputs)
    assert_summaries_equal(metric.results().serialize(), ref)
