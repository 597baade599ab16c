"""tools/nuscenes_eval.py on a dataroot in the real layout: the devkit's evaluate.py output
(metrics_summary.json with the same keys and values), and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nuscenes_dataroot import (
    assert_summaries_equal,
    build_dataroot,
    make_predictions,
    results_json,
    token,
)

from hat.errors import UserInputError
from hat.metrics.nuscenes.config import CVPR_2019
from hat.tools.nuscenes_eval import evaluate_results_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory):
    return build_dataroot(tmp_path_factory.mktemp("nuscenes_cli") / "data")


@pytest.fixture(scope="module")
def submission(dataroot):
    return results_json(dataroot, make_predictions(dataroot, "jittered", seed=3))


def _write(tmp_path, content, name="results.json"):
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return path


def _run(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "nuscenes_eval.py"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_cli_writes_the_devkit_summary(dataroot, submission, tmp_path):
    from nuscenes import NuScenes
    from nuscenes.eval.detection.config import config_factory
    from nuscenes.eval.detection.evaluate import DetectionEval

    path = _write(tmp_path, submission)
    out = tmp_path / "ours"
    proc = _run(
        "--result-path",
        path,
        "--dataroot",
        dataroot.root,
        "--version",
        "v1.0-mini",
        "--eval-set",
        "mini_val",
        "--output-dir",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    for line in ("mAP: ", "mATE: ", "mASE: ", "mAOE: ", "mAVE: ", "mAAE: ", "NDS: "):
        assert line in proc.stdout
    assert "Per-class results:" in proc.stdout and "traffic_cone" in proc.stdout
    ours = json.loads((out / "metrics_summary.json").read_text())
    nusc = NuScenes(version="v1.0-mini", dataroot=str(dataroot.root), verbose=False)
    ev = DetectionEval(
        nusc,
        config_factory("detection_cvpr_2019"),
        str(path),
        "mini_val",
        str(tmp_path / "devkit"),
        verbose=False,
    )
    ev.main(plot_examples=0, render_curves=False)
    ref = json.loads((tmp_path / "devkit" / "metrics_summary.json").read_text())
    assert set(ours) == set(ref)
    assert ours["meta"] == ref["meta"] == submission["meta"] and ours["cfg"] == ref["cfg"]
    for c in ref["label_aps"]:  # JSON keys of the thresholds as the devkit writes them
        assert list(ours["label_aps"][c]) == list(ref["label_aps"][c])
        assert list(ours["label_aps"][c]) == ["0.5", "1.0", "2.0", "4.0"]
    as_floats = {c: {float(k): v for k, v in d.items()} for c, d in ours["label_aps"].items()}
    assert_summaries_equal(dict(ours, label_aps=as_floats), ref)
    details = json.loads((out / "metrics_details.json").read_text())
    ref_details = json.loads((tmp_path / "devkit" / "metrics_details.json").read_text())
    assert set(details) == set(ref_details)
    assert details["car:2.0"]["precision"] == pytest.approx(ref_details["car:2.0"]["precision"])


def test_custom_config_changes_the_ranges(dataroot, submission, tmp_path):
    cfg = json.loads(json.dumps(CVPR_2019))
    cfg["class_range"] = {c: 10 for c in cfg["class_range"]}
    cfg_path = _write(tmp_path, cfg, "cfg.json")
    path = _write(tmp_path, submission)
    near = evaluate_results_file(
        path, dataroot.root, "v1.0-mini", "mini_val", tmp_path / "a", cfg_path, verbose=False
    )
    full = evaluate_results_file(
        path, dataroot.root, "v1.0-mini", "mini_val", tmp_path / "b", verbose=False
    )
    assert near["cfg"]["class_range"]["car"] == 10 and near["mean_ap"] != full["mean_ap"]


def _fails(tmp_path, dataroot, content, eval_set="mini_val"):
    """The UserInputError message of evaluating ``content``; nothing was written."""
    path = _write(tmp_path, content) if content is not None else tmp_path / "missing.json"
    with pytest.raises(UserInputError) as err:
        evaluate_results_file(
            path, dataroot.root, "v1.0-mini", eval_set, tmp_path / "o", verbose=False
        )
    assert not (tmp_path / "o").exists()  # nothing half-written
    return str(err.value)


def test_bad_input_is_one_line_and_exit_1(dataroot, submission, tmp_path):
    missing = json.loads(json.dumps(submission))
    del missing["results"][dataroot.eval_tokens[3]]
    proc = _run(
        "--result-path",
        _write(tmp_path, missing),
        "--dataroot",
        dataroot.root,
        "--version",
        "v1.0-mini",
        "--eval-set",
        "mini_val",
        "--output-dir",
        tmp_path / "o",
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        proc.stderr.startswith("nuscenes_eval: error: ") and dataroot.eval_tokens[3] in proc.stderr
    )
    assert not (tmp_path / "o").exists()


def test_bad_submissions_name_the_problem(dataroot, submission, tmp_path):
    tokens = dataroot.eval_tokens
    missing = json.loads(json.dumps(submission))
    del missing["results"][tokens[3]]
    assert f"results miss 1 sample(s) of the evaluated split, e.g. ['{tokens[3]}']" in _fails(
        tmp_path, dataroot, missing
    )
    extra = json.loads(json.dumps(submission))
    extra["results"]["not-a-sample"] = []
    assert "1 sample(s) not in the evaluated split, e.g. ['not-a-sample']" in _fails(
        tmp_path, dataroot, extra
    )
    first = next(t for t in tokens if submission["results"][t])
    bad = json.loads(json.dumps(submission))
    bad["results"][first][0]["translation"] = [1.0, 2.0]
    assert f"results['{first}'][0]: 'translation' must be a list of 3 numbers" in _fails(
        tmp_path, dataroot, bad
    )
    bad = json.loads(json.dumps(submission))
    del bad["results"][first][1]["velocity"]
    assert f"results['{first}'][1]: missing field(s) ['velocity']" in _fails(
        tmp_path, dataroot, bad
    )
    bad = json.loads(json.dumps(submission))
    bad["results"][first][0]["detection_name"] = "van"
    assert "unknown 'detection_name' 'van'" in _fails(tmp_path, dataroot, bad)
    bad = json.loads(json.dumps(submission))
    bad["results"][first][0]["attribute_name"] = "vehicle.flying"
    assert "unknown 'attribute_name' 'vehicle.flying'" in _fails(tmp_path, dataroot, bad)
    bad = json.loads(json.dumps(submission))
    bad["results"][first][0]["size"] = [1.0, 0.0, 1.0]
    assert "'size' must be > 0" in _fails(tmp_path, dataroot, bad)
    bad = {"results": submission["results"]}
    assert "no field 'meta'" in _fails(tmp_path, dataroot, bad)
    bad = json.loads(json.dumps(submission))
    bad["results"][first] = bad["results"][first] * 501
    assert "at most 500 per sample allowed" in _fails(tmp_path, dataroot, bad)
    assert "missing.json does not exist" in _fails(tmp_path, dataroot, None)
    assert "belongs to v1.0-trainval, not to version 'v1.0-mini'" in _fails(
        tmp_path, dataroot, submission, "val"
    )


def test_bad_dataroot_names_the_table_and_token(dataroot, submission, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(dataroot.root / "v1.0-mini", root / "v1.0-mini")
    path = _write(tmp_path, submission)
    sd_path = root / "v1.0-mini" / "sample_data.json"
    sample_data = json.loads(sd_path.read_text())
    lidar = token("sensor", "LIDAR_TOP")
    cs = {
        c["token"]
        for c in json.loads((root / "v1.0-mini" / "calibrated_sensor.json").read_text())
        if c["sensor_token"] == lidar
    }
    first_lidar = next(
        sd
        for sd in sample_data
        if sd["calibrated_sensor_token"] in cs and sd["sample_token"] == dataroot.eval_tokens[0]
    )
    first_lidar["ego_pose_token"] = "0" * 32
    sd_path.write_text(json.dumps(sample_data))
    with pytest.raises(UserInputError, match=r"ego_pose.json: no record with token '0{32}'"):
        evaluate_results_file(path, root, "v1.0-mini", "mini_val", tmp_path / "o", verbose=False)
    sd_path.write_text(json.dumps([sd for sd in sample_data if sd is not first_lidar]))
    with pytest.raises(
        UserInputError, match=f"sample '{dataroot.eval_tokens[0]}' has no LIDAR_TOP"
    ):
        evaluate_results_file(path, root, "v1.0-mini", "mini_val", tmp_path / "o", verbose=False)
    (root / "v1.0-mini" / "instance.json").unlink()
    with pytest.raises(UserInputError, match=r"instance.json does not exist"):
        evaluate_results_file(path, root, "v1.0-mini", "mini_val", tmp_path / "o", verbose=False)
    assert not (tmp_path / "o").exists()
