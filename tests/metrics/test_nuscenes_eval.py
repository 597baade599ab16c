"""The nuScenes detection benchmark equals nuscenes-devkit's DetectionEval (to 1e-6, every AP,
TP error, mAP and NDS) on a tiny dataroot, and its pieces behave as the devkit's."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

# nuscenes-devkit (requirements-devkit.txt, installed without its dependency pins by
# scripts/setup.sh for the dev set) is imported unconditionally: a missing devkit fails the
# suite instead of skipping the comparison.
from nuscenes.eval.common import utils as devkit_utils
from nuscenes.eval.detection import algo as devkit_algo
from nuscenes.eval.detection.data_classes import DetectionBox
from nuscenes_dataroot import (
    assert_summaries_equal,
    build_dataroot,
    devkit_eval,
    make_predictions,
    results_json,
)
from pyquaternion import Quaternion

from hat.metrics.nuscenes.algo import MetricData, accumulate, calc_ap, calc_tp, cummean
from hat.metrics.nuscenes.boxes import ATTRIBUTE_INDEX, CLASS_INDEX, EvalBoxes
from hat.metrics.nuscenes.config import DETECTION_NAMES, TP_METRICS, DetectionConfig
from hat.metrics.nuscenes.evaluate import filter_and_evaluate
from hat.metrics.nuscenes.geometry import angle_diff, quaternion_yaw
from hat.metrics.nuscenes.submission import load_results
from hat.metrics.nuscenes.tables import load_gt

CASES = ("perfect", "barrier_flip", "jittered", "tied_scores", "empty")


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuscenes")
    return build_dataroot(root / "data")


def ours_from_files(root, result_path):
    cfg = DetectionConfig.cvpr_2019()
    gt = load_gt(root, "v1.0-mini", "mini_val")
    pred, _ = load_results(result_path, cfg.max_boxes_per_sample, gt.boxes.sample_tokens)
    return filter_and_evaluate(gt.boxes, pred, gt.ego_translation, gt.bike_racks, cfg)


@pytest.mark.parametrize("case", CASES)
def test_equals_devkit(dataroot, tmp_path, case):
    path = tmp_path / f"{case}.json"
    path.write_text(json.dumps(results_json(dataroot, make_predictions(dataroot, case))))
    results, counts = ours_from_files(dataroot.root, path)
    ref, _ = devkit_eval(dataroot.root, path, tmp_path / "devkit")
    ours = results.serialize()
    assert_summaries_equal(ours, ref)
    # the cases do what they claim
    aps, tps = ours["mean_dist_aps"], ours["label_tp_errors"]
    assert aps["construction_vehicle"] == 0.0  # no ground truth of that class
    assert math.isnan(tps["traffic_cone"]["orient_err"]) and math.isnan(tps["barrier"]["vel_err"])
    assert math.isnan(tps["barrier"]["attr_err"]) and not math.isnan(tps["barrier"]["orient_err"])
    if case in ("perfect", "barrier_flip"):
        assert ours["mean_ap"] == pytest.approx(0.9)  # 9 of 10 classes found perfectly
        assert tps["car"]["trans_err"] == pytest.approx(0.0, abs=1e-9)  # ego-global round trip
        assert tps["car"]["scale_err"] == pytest.approx(0.0, abs=1e-12)
        assert tps["car"]["attr_err"] == 0.0
        # (a yaw-only box in the pitched/rolled ego frame is slightly tilted in the global one)
        orient = tps["car"]["orient_err"]
        assert orient == pytest.approx(0.0 if case == "perfect" else np.pi, abs=1e-3)
        assert tps["barrier"]["orient_err"] == pytest.approx(0.0, abs=1e-3)  # pi-symmetric
    if case == "empty":
        assert ours["mean_ap"] == 0.0 and ours["nd_score"] == 0.0
        assert ours["tp_errors"] == {m: 1.0 for m in TP_METRICS}
    if case == "jittered":
        assert 0.05 < ours["mean_ap"] < 0.5
    # the filters had work to do: range, points, bike racks
    c = counts["gt"]
    assert c.total > c.after_distance > c.after_points > c.after_bike_racks > 0


def test_ground_truth_matches_devkit_load_gt(dataroot):
    """Samples, box order, velocities (NaN where unknown), attributes, point counts and
    filter results of the raw-table loader equal the devkit's."""
    from nuscenes.eval.common.loaders import add_center_dist, filter_eval_boxes
    from nuscenes.eval.common.loaders import load_gt as devkit_load_gt
    from nuscenes.eval.detection.config import config_factory

    from hat.metrics.nuscenes.filters import add_center_dist as ours_center
    from hat.metrics.nuscenes.filters import filter_eval_boxes as ours_filter

    _, nusc = devkit_eval(dataroot.root, _empty_results(dataroot), dataroot.root / "o")
    ref = devkit_load_gt(nusc, "mini_val", DetectionBox, verbose=False)
    gt = load_gt(dataroot.root, "v1.0-mini", "mini_val")
    assert gt.boxes.sample_tokens == ref.sample_tokens == dataroot.eval_tokens
    boxes = ref.all
    assert len(boxes) == len(gt.boxes)
    np.testing.assert_array_equal(gt.boxes.translation, [b.translation for b in boxes])
    np.testing.assert_array_equal(gt.boxes.velocity, [b.velocity for b in boxes])  # NaN too
    assert np.isnan(gt.boxes.velocity).any()
    assert [DETECTION_NAMES[k] for k in gt.boxes.name] == [b.detection_name for b in boxes]
    inv_attr = {v: k for k, v in ATTRIBUTE_INDEX.items()}
    assert [inv_attr[k] for k in gt.boxes.attribute] == [b.attribute_name for b in boxes]
    assert gt.boxes.num_pts.tolist() == [b.num_pts for b in boxes]
    cfg = config_factory("detection_cvpr_2019")
    ref_f = filter_eval_boxes(nusc, add_center_dist(nusc, ref), cfg.class_range)
    ours_f, _ = ours_filter(
        ours_center(gt.boxes, gt.ego_translation), cfg.class_range, gt.bike_racks
    )
    np.testing.assert_array_equal(ours_f.translation, [b.translation for b in ref_f.all])
    np.testing.assert_allclose(ours_f.ego_dist, [b.ego_dist for b in ref_f.all], rtol=0, atol=0)
    # the two bicycles parked in each scene's rack are gone, the riding ones stay
    bikes = ours_f.name == CLASS_INDEX["bicycle"]
    rack = gt.bike_racks[0][0]
    assert bikes.any() and len(gt.bike_racks[0]) == 1
    assert np.linalg.norm(ours_f.translation[bikes, :2] - rack[:2], axis=1).min() > 1.0


def _empty_results(info):
    path = info.root / "empty_results.json"
    path.write_text(json.dumps({"meta": {}, "results": {t: [] for t in info.eval_tokens}}))
    return path


# ------------------------------------------------------------------ pieces, against the devkit


def _boxes(rows, sample=None):
    """EvalBoxes of one sample from dicts (translation, size, yaw, velocity, name, score,
    attribute)."""
    cols = {
        "translation": [r["t"] for r in rows],
        "size": [r.get("size", (2.0, 4.0, 1.5)) for r in rows],
        "rotation": [list(Quaternion(axis=[0, 0, 1], angle=r.get("yaw", 0.0))) for r in rows],
        "velocity": [r.get("v", (0.0, 0.0)) for r in rows],
        "name": [CLASS_INDEX[r["name"]] for r in rows],
        "score": [r.get("score", -1.0) for r in rows],
        "attribute": [ATTRIBUTE_INDEX[r.get("attr", "")] for r in rows],
        "num_pts": [5 for _ in rows],
    }
    for k, n in (("translation", 3), ("size", 3), ("rotation", 4), ("velocity", 2)):
        cols[k] = np.asarray(cols[k], dtype=np.float64).reshape(-1, n)
    return EvalBoxes.from_samples(["s"], [cols])


def _devkit_boxes(eb: EvalBoxes):
    from nuscenes.eval.common.data_classes import EvalBoxes as DevkitEvalBoxes

    inv_attr = {v: k for k, v in ATTRIBUTE_INDEX.items()}
    out = DevkitEvalBoxes()
    out.add_boxes(
        "s",
        [
            DetectionBox(
                sample_token="s",
                translation=tuple(eb.translation[i]),
                size=tuple(eb.size[i]),
                rotation=tuple(eb.rotation[i]),
                velocity=tuple(eb.velocity[i]),
                detection_name=DETECTION_NAMES[eb.name[i]],
                detection_score=float(eb.score[i]),
                attribute_name=inv_attr[int(eb.attribute[i])],
            )
            for i in range(len(eb))
        ],
    )
    return out


def _compare_accumulate(gt_rows, pred_rows, class_name):
    gt, pred = _boxes(gt_rows), _boxes(pred_rows)
    ths = (0.5, 1.0, 2.0, 4.0)
    period = np.pi if class_name == "barrier" else 2 * np.pi
    ours = accumulate(gt, pred, CLASS_INDEX[class_name], ths, period)
    dg, dp = _devkit_boxes(gt), _devkit_boxes(pred)
    for th, md in zip(ths, ours):
        ref = devkit_algo.accumulate(dg, dp, class_name, devkit_utils.center_distance, th)
        for key in ("precision", "confidence", *TP_METRICS):
            np.testing.assert_allclose(getattr(md, key), getattr(ref, key), atol=1e-12)
        for args in ((0.1, 0.1), (0.0, 0.0), (0.3, 0.5)):
            assert calc_ap(md, *args) == pytest.approx(devkit_algo.calc_ap(ref, *args), abs=1e-12)
        for m in TP_METRICS:
            for r in (0.1, 0.0, 0.6):
                assert calc_tp(md, r, m) == pytest.approx(devkit_algo.calc_tp(ref, r, m), abs=1e-12)
    return ours


def test_barrier_heading_is_pi_periodic_cars_are_not():
    gt = [{"t": (5.0, 0.0, 0.0), "yaw": 0.2, "name": "barrier"}]
    pred = [{"t": (5.1, 0.0, 0.0), "yaw": 0.2 + np.pi, "name": "barrier", "score": 0.9}]
    md = _compare_accumulate(gt, pred, "barrier")[2]
    assert md.orient_err[11:] == pytest.approx(0.0, abs=1e-12)
    car_gt = [dict(gt[0], name="car")]
    car_pred = [dict(pred[0], name="car")]
    md = _compare_accumulate(car_gt, car_pred, "car")[2]
    assert md.orient_err[11] == pytest.approx(np.pi)
    # angle_diff itself, both periods, wrap-around
    x, y = np.array([3.0, -3.0, 0.1]), np.array([-3.0, 3.0, 0.1 + np.pi])
    for period in (np.pi, 2 * np.pi):
        ref = [devkit_utils.angle_diff(a, b, period) for a, b in zip(x, y)]
        np.testing.assert_allclose(angle_diff(x, y, period), ref, atol=1e-15)


def test_unknown_velocity_and_missing_attribute_are_left_out_of_the_means():
    gt = [
        {"t": (0.0, 0.0, 0.0), "name": "car", "v": (np.nan, np.nan), "attr": ""},
        {"t": (10.0, 0.0, 0.0), "name": "car", "v": (1.0, 0.0), "attr": "vehicle.moving"},
        {"t": (20.0, 0.0, 0.0), "name": "car", "v": (np.nan, np.nan), "attr": "vehicle.parked"},
    ]
    pred = [
        {"t": (0.2, 0.0, 0.0), "name": "car", "v": (1.0, 1.0), "score": 0.9,
         "attr": "vehicle.parked"},
        {"t": (10.0, 0.3, 0.0), "name": "car", "v": (2.0, 0.0), "score": 0.8,
         "attr": "vehicle.parked"},
        {"t": (20.4, 0.0, 0.0), "name": "car", "score": 0.7, "attr": "vehicle.parked"},
    ]  # fmt: skip
    md = _compare_accumulate(gt, pred, "car")[2]
    # first match: velocity and attribute unknown (NaN) -> 0 until a known one arrives
    assert md.vel_err[33] == 0.0 and md.vel_err[-1] == pytest.approx(1.0)
    assert md.attr_err[-1] == pytest.approx(0.5)  # (1 wrong + 1 right) / 2, the NaN left out
    np.testing.assert_array_equal(cummean(np.array([np.nan, np.nan])), [1.0, 1.0])


def test_no_ground_truth_no_match_and_ties():
    none = _compare_accumulate([], [{"t": (0, 0, 0), "name": "car", "score": 0.5}], "car")
    assert all(md.precision.max() == 0 and md.trans_err.min() == 1 for md in none)
    far = _compare_accumulate(
        [{"t": (0, 0, 0), "name": "car"}], [{"t": (9, 0, 0), "name": "car", "score": 0.5}], "car"
    )
    assert calc_ap(far[3], 0.1, 0.1) == 0.0 and calc_tp(far[3], 0.1, "trans_err") == 1.0
    # equal scores and equidistant ground truth: the devkit's order decides who matches
    gt = [{"t": (0.0, 1.0, 0.0), "name": "car"}, {"t": (0.0, -1.0, 0.0), "name": "car"}]
    pred = [
        {"t": (0.0, 0.0, 0.0), "name": "car", "score": 0.5, "size": (2.0, 4.0, 1.0)},
        {"t": (0.0, 0.0, 0.0), "name": "car", "score": 0.5, "size": (1.0, 4.0, 1.5)},
        {"t": (0.0, 1.5, 0.0), "name": "car", "score": 0.5},
    ]
    _compare_accumulate(gt, pred, "car")


def test_calc_ap_and_tp_by_hand():
    md = MetricData.no_predictions()
    md.precision = np.linspace(1.0, 0.0, 101)  # precision falls linearly with recall
    md.confidence = np.where(np.arange(101) <= 50, 1.0, 0.0)  # recall reaches 0.5
    md.trans_err = np.arange(101) / 100
    # mean over recall 0.11..1 of max(p - 0.1, 0), / 0.9
    expected = np.clip(np.linspace(1.0, 0.0, 101)[11:] - 0.1, 0, None).mean() / 0.9
    assert calc_ap(md, 0.1, 0.1) == pytest.approx(expected)
    assert calc_tp(md, 0.1, "trans_err") == pytest.approx(np.mean(np.arange(11, 51) / 100))
    md.confidence = np.where(np.arange(101) <= 10, 1.0, 0.0)  # recall 0.1 only: error 1
    assert calc_tp(md, 0.1, "trans_err") == 1.0


def test_quaternion_yaw_equals_the_devkit():
    rng = np.random.default_rng(0)
    qs = rng.normal(size=(50, 4))
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    ref = [devkit_utils.quaternion_yaw(Quaternion(q)) for q in qs]
    np.testing.assert_allclose(quaternion_yaw(qs), ref, atol=1e-12)


def test_config_errors_name_the_key(tmp_path):
    cfg = DetectionConfig.cvpr_2019()
    assert cfg.class_names == DETECTION_NAMES and cfg.dist_ths == (0.5, 1.0, 2.0, 4.0)
    bad = dict(cfg.serialize(), dist_th_tp=3.0)
    with pytest.raises(ValueError, match="'dist_th_tp' 3.0 is not in 'dist_ths'"):
        DetectionConfig.from_dict(bad)
    missing = cfg.serialize()
    del missing["class_range"]["barrier"]
    with pytest.raises(ValueError, match="'class_range' must have exactly the classes"):
        DetectionConfig.from_dict(missing)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(dict(cfg.serialize(), min_recall=0.2)))
    assert DetectionConfig.from_json(path).min_recall == 0.2
