"""MOTR through HAT's commands on a tiny synthetic MOT17, as users run them: make_synthetic ->
half split -> pack (train, test) -> train float -> predict float (MotMetric on the test halves'
ground truth)."""

from pathlib import Path

import pytest
from stage_tools import run_tool, stage_folders, stage_metrics

CFG = str(Path(__file__).with_name("tiny_motr_stages_config.py"))


@pytest.fixture(scope="module")
def float_run(tmp_path_factory):
    env, base, data, ckpt = stage_folders(tmp_path_factory, "motr_stages")
    raw = base / "MOT17"
    run_tool(
        env, "tools/datasets/make_synthetic.py", "mot17", "--out", str(raw), "--num-seqs", "1",
        "--num-test-seqs", "0", "--frames", "16", "--image-scale", "0.1", "--seed", "0",
        "--num-workers", "0",
    )  # fmt: skip
    run_tool(env, "tools/dataset_converters/gen_mot_data.py", "--src-data-path", str(raw))
    split = raw / "split_data"
    for name in ("train", "test"):
        run_tool(
            env, "tools/datasets/mot17_packer.py", "--src-data-dir", str(split),
            "--split-name", name, "--pack-type", "lmdb", "--num-workers", "0",
        )  # fmt: skip
    env["HAT_TEST_DATA"] = str(split)
    run_tool(env, "tools/train.py", "--stage", "float", "--config", CFG)
    run_tool(env, "tools/predict.py", "--stage", "float", "--config", CFG)
    return env, split, ckpt


def test_float_stage_trains_and_tracks(float_run):
    env, split, ckpt = float_run
    assert (ckpt / "float-checkpoint-best.pth.tar").is_file()
    metrics = stage_metrics(ckpt, "float")
    for key in ("MOTA", "IDF1", "HOTA"):
        assert key in metrics, metrics
    assert metrics["MOTA"] <= 1.0 and 0.0 <= metrics["IDF1"] <= 1.0
    # one result file per test sequence, in MOTChallenge format
    results = sorted((ckpt / "mot_results").glob("*.txt"))
    gt = sorted(p.name for p in (split / "test_gt").iterdir() if p.is_dir())
    assert [p.stem for p in results] == gt
    # every frame of the test half reports its tracks (4 slots kept + new detect queries)
    rows = [line.split(",") for line in results[0].read_text().splitlines()]
    frames = {int(r[0]) for r in rows}
    assert len(frames) == metrics["dataset_size"]
    assert len({int(r[1]) for r in rows}) >= 10  # at least the first frame's detect queries
