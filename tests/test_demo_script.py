"""scripts/demo.py without running the demo: its options, the expected-time line, the summary
rows and the summary written after every finished task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import demo  # noqa: E402
from demo_summary import format_table, task_rows, write_summary  # noqa: E402
from demo_tasks import (  # noqa: E402
    REPO_ROOT,
    SMOKE_DATA,
    TASKS,
    Step,
    quant_steps,
    task_steps,
)


def test_demo_sh_runs_the_script_and_help_works():
    assert 'exec python scripts/demo.py "$@"' in (SCRIPTS / "demo.sh").read_text()
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "demo.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--smoke" in proc.stdout and "--tasks" in proc.stdout
    assert "from pwcnet, unet, stereonet, bev" in proc.stdout


def test_parse_args_defaults_tasks_and_smoke():
    args = demo.parse_args([])
    assert args.task_keys == ["pwcnet", "unet", "stereonet"]
    assert (args.num_pairs, args.seg_num_train, args.stereo_num_train) == (640, 1000, 600)
    assert not args.smoke

    args = demo.parse_args(["--smoke", "--tasks", "stereonet, pwcnet"])
    assert args.task_keys == ["stereonet", "pwcnet"]
    for key, value in SMOKE_DATA.items():
        assert getattr(args, key) == value
    # --smoke never enlarges a set that was asked smaller
    assert demo.parse_args(["--smoke", "--num-pairs", "10"]).num_pairs == 10

    args = demo.parse_args(["--tasks", "bev,pwcnet"])
    assert args.task_keys == ["bev", "pwcnet"]
    assert (args.bev_train_scenes, args.bev_val_scenes, args.bev_frames_per_scene) == (8, 2, 40)
    assert args.bev_image_size == "480x270"


@pytest.mark.parametrize("tasks", ["pwcnet,flownet", ","])
def test_parse_args_rejects_unknown_or_empty_tasks(tasks, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.parse_args(["--tasks", tasks])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--tasks: unknown" in err and "choose from pwcnet, unet, stereonet, bev" in err
    if "flownet" in tasks:
        assert "['flownet']" in err


def test_expected_time_line():
    tasks = [TASKS["pwcnet"], TASKS["stereonet"]]
    full = demo.expected_time(tasks, smoke=False)
    p, s = TASKS["pwcnet"].minutes, TASKS["stereonet"].minutes
    assert full == (
        f"Expected time on 2 CPU cores: pwcnet ~{p:g} min, stereonet ~{s:g} min; "
        f"about {p + s:g} min in all."
    )
    smoke = demo.expected_time(tasks[:1], smoke=True)
    ps = TASKS["pwcnet"].smoke_minutes
    assert smoke == (
        f"Expected time on 2 CPU cores with --smoke: pwcnet ~{ps:g} min; about {ps:g} min in all."
    )
    for task in TASKS.values():
        assert 0 < task.smoke_minutes < task.minutes


def _write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


def test_task_rows_read_the_metric_files(tmp_path):
    task = TASKS["pwcnet"]
    _write(tmp_path / "float-metrics.json", {"EPE": 2.0, "dataset_size": 128})
    _write(tmp_path / "zero-flow-metrics.json", {"EPE": 5.0, "dataset_size": 128})
    _write(tmp_path / "calibration-metrics.json", {"EPE": 2.1, "dataset_size": 128})
    _write(tmp_path / "qat-metrics.json", {"EPE": 1.9, "dataset_size": 128})
    _write(tmp_path / "int_infer-metrics.json", {"EPE": 1.9, "dataset_size": 128})
    _write(
        tmp_path / "align_bpu-metrics.json",
        {"EPE": 1.9, "samples": 128, "identical_fraction": 1.0, "max_diff_lsb": 0},
    )
    timings = {"train_float": 600.04, "train_calibration": 10.0, "train_qat": 120.0,
               "validation_hbir": 30.0}  # fmt: skip
    rows = task_rows(task, tmp_path, timings, task.baseline(task.config))
    by_stage = {(r["stage"], r["metric"]): r for r in rows}
    assert by_stage[("float", "EPE")]["value"] == 2.0
    assert by_stage[("float", "EPE")]["seconds"] == 600.0
    assert by_stage[("float/zero_flow", "EPE ratio")]["value"] == 0.4
    assert by_stage[("calibration/float", "EPE ratio")]["value"] == 1.05
    assert by_stage[("qat/float", "EPE ratio")]["value"] == 0.95
    assert by_stage[("ort_int8 (align_bpu)", "EPE")]["dataset_size"] == 128
    assert by_stage[("ort vs int_infer", "identical fraction (bitwise)")]["value"] == 1.0
    table = format_table(rows).splitlines()
    assert table[0].split() == ["task", "stage", "metric", "value", "dataset_size", "seconds"]
    assert len(table) == len(rows) + 2


def test_summary_is_written_and_printed_after_each_task(tmp_path, monkeypatch, capsys):
    """main() with a stand-in for the tasks' commands: when the second task starts, the
    summary of the first is already on disk and its table printed."""
    seen_at_start = {}

    def finished_task(task, args, py, log_dir):
        path = tmp_path / "demo-summary.json"
        seen_at_start[task.key] = (
            json.loads(path.read_text()) if path.exists() else None,
            capsys.readouterr().out,
        )
        step = Step(f"{task.key}/train_float", ["true"], seconds=60.0 * len(seen_at_start))
        row = dict(task=task.name, stage="float", metric=task.metric, value=1.5,
                   dataset_size=8, seconds=step.seconds)  # fmt: skip
        return [step], [row]

    monkeypatch.setattr(demo, "run_task", finished_task)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # main() sets it for the tools it starts
    assert demo.main(["--tasks", "pwcnet,unet", "--out", str(tmp_path)]) == 0

    first_summary, out_before_first = seen_at_start["pwcnet"]
    assert first_summary is None
    assert out_before_first.startswith("Expected time on 2 CPU cores: pwcnet ~")

    after_first, out_between = seen_at_start["unet"]
    assert after_first["tasks"] == ["pwcnet"] and after_first["pending"] == ["unet"]
    assert after_first["steps"] == {"pwcnet/train_float": 60.0}
    assert [r["task"] for r in after_first["results"]] == ["pwcnet_flyingchairs"]
    assert "Summary after pwcnet (1 of 2 tasks):" in out_between
    assert "pwcnet_flyingchairs" in out_between and "unet_mobilenetv1" not in out_between

    final = json.loads((tmp_path / "demo-summary.json").read_text())
    assert final["tasks"] == ["pwcnet", "unet"] and final["pending"] == []
    assert final["steps"] == {"pwcnet/train_float": 60.0, "unet/train_float": 120.0}
    assert [r["task"] for r in final["results"]] == [
        "pwcnet_flyingchairs",
        "unet_mobilenetv1_cityscapes",
    ]
    out_end = capsys.readouterr().out
    assert "Summary after pwcnet, unet (2 of 2 tasks):" in out_end
    assert "Total time:" in out_end
    assert not (tmp_path / "demo-summary.json.tmp").exists()


def test_write_summary_replaces_the_file(tmp_path):
    path = tmp_path / "demo-summary.json"
    write_summary(path, ["pwcnet"], ["unet"], [], [], 1.04)
    summary = write_summary(path, ["pwcnet", "unet"], [], [Step("unet/calops", [], 2.26)], [], 9.0)
    assert (
        json.loads(path.read_text())
        == summary
        == {
            "tasks": ["pwcnet", "unet"],
            "pending": [],
            "total_seconds": 9.0,
            "steps": {"unet/calops": 2.3},
            "results": [],
        }
    )
    assert os.listdir(tmp_path) == ["demo-summary.json"]


def test_bev_steps_follow_the_demo_config():
    """The BEV task's data steps write where its demo config reads (packed splits, metas), the
    inference folder's map grid is the config's, and the chain has every stage of the others."""
    from hat.utils.run_config import RunConfig

    task = TASKS["bev"]
    config = RunConfig.load(str(REPO_ROOT / task.config))
    args = demo.parse_args(["--smoke", "--tasks", "bev"])
    steps = task_steps(task, args, "PY")
    names = [s.name for s in steps]
    assert names == ["make_synthetic", "pack_train", "pack_val", "infer_sample", "calops",
                     "train_float", "predict_float", "baseline"]  # fmt: skip
    make, pack_train, _, sample = (s.argv for s in steps[:4])
    opt = lambda argv, key: argv[argv.index(key) + 1]  # noqa: E731
    assert (opt(make, "--num-train-scenes"), opt(make, "--num-val-scenes")) == ("1", "1")
    assert opt(make, "--image-size") == "480x270"
    data_root = Path(config.get("data_rootdir"))
    assert opt(pack_train, "--target-data-dir") == str(data_root.parent)
    assert opt(pack_train, "--version") == data_root.name
    assert opt(pack_train, "--src-data-dir") == opt(make, "--out")
    assert sample[1:4] == ["-m", "hat.infer.bev", str(data_root / "val_lmdb")]
    assert opt(sample, "--map-path") == config.get("meta_rootdir")
    map_size = sample[sample.index("--map-size") + 1 :]
    assert tuple(float(v) for v in map_size) == tuple(config.get("map_size"))
    train = next(s.argv for s in steps if s.name == "train_float")
    assert train[-3:] == ["--opts", "float_trainer.num_epochs", "1"]
    assert steps[-1].argv[1:3] == ["-m", "hat.tools.bev_baseline"]
    later = quant_steps(task, args, "PY", "img:DIR")
    assert [s.name for s in later] == [s.name for s in quant_steps(TASKS["unet"], args, "PY", "")]
    argv = {s.name: s.argv for s in later}
    assert argv["infer_float"][-4:-2] == ["--model-inputs", "img:DIR"]
    assert argv["train_calibration"][-3:] == ["--opts", "calibration_trainer.num_steps", "2"]
    assert argv["train_qat"][-3:] == ["--opts", "qat_trainer.num_epochs", "1"]
    full = {s.name: s.argv for s in quant_steps(task, demo.parse_args([]), "PY", "img:DIR")}
    assert "--opts" not in full["train_calibration"] + full["train_qat"]


def test_bev_rows_give_every_metric_and_differences_to_zero(tmp_path):
    task = TASKS["bev"]
    assert task.metric_keys == ("NDS", "mAP", "mIoU")
    values = {
        "float": (0.20, 0.10, 0.30),
        "no-detection": (0.0, 0.0, 0.0),
        "calibration": (0.18, 0.09, 0.3),
        "qat": (0.0, 0.0, 0.15),
        "int_infer": (0.0, 0.0, 0.15),
    }
    for name, (nds, ap, iou) in values.items():
        _write(tmp_path / f"{name}-metrics.json",
               {"NDS": nds, "mAP": ap, "mIoU": iou, "dataset_size": 80})  # fmt: skip
    _write(
        tmp_path / "align_bpu-metrics.json",
        {"NDS": 0.0, "mAP": 0.0, "mIoU": 0.15, "samples": 80, "identical_fraction": 1.0,
         "identical_fraction_bitwise": 1.0, "max_diff_lsb": 0.0},
    )  # fmt: skip
    timings = {"train_float": 100.0, "train_calibration": 10.0, "train_qat": 50.0,
               "validation_hbir": 30.0}  # fmt: skip
    rows = task_rows(task, tmp_path, timings, task.baseline(task.config))
    by = {(r["stage"], r["metric"]): r["value"] for r in rows}
    base = "no_det_others_map"
    for k, v in zip(task.metric_keys, values["float"]):
        assert by[("float", k)] == v
        assert by[(base, k)] == 0.0
        assert by[(f"float/{base}", f"{k} difference ({base} is 0)")] == v
        assert by[("ort_int8 (align_bpu)", k)] == by[("int_infer", k)]
    assert by[("calibration/float", "NDS ratio")] == 0.9
    assert by[("qat/float", "mIoU ratio")] == 0.5
    assert by[("ort vs int_infer", "identical fraction (bitwise)")] == 1.0
    # a stage whose float value is 0 gets the difference too, not a division by zero
    _write(tmp_path / "float-metrics.json", {"NDS": 0.0, "mAP": 0.0, "mIoU": float("nan")})
    by = {(r["stage"], r["metric"]): r["value"] for r in task_rows(task, tmp_path, timings, None)}
    assert by[("qat/float", "NDS difference (float is 0)")] == 0.0
    assert by[("calibration/float", "mAP difference (float is 0)")] == 0.09
    assert by[("qat/float", "mIoU ratio")] == "n/a"
