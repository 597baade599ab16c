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
from demo_tasks import SMOKE_DATA, TASKS, Step  # noqa: E402


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


@pytest.mark.parametrize("tasks", ["pwcnet,flownet", ","])
def test_parse_args_rejects_unknown_or_empty_tasks(tasks, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.parse_args(["--tasks", tasks])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--tasks: unknown" in err and "choose from pwcnet, unet, stereonet" in err
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
