"""MOTR through HAT's commands on a tiny synthetic MOT17, as users run them: make_synthetic ->
half split -> pack (train, test) -> train float -> predict float (MotMetric on the test halves'
ground truth); then calibration -> qat -> predict every stage -> export both deployed graphs
-> align_bpu (the whole tracking loop on ONNX Runtime) -> model_checker / calops on both
configs."""

import json
from pathlib import Path

import pytest
from stage_tools import PREDICT_STAGES, run_tool, stage_folders, stage_metrics

CFG = str(Path(__file__).with_name("tiny_motr_stages_config.py"))
QIM_CFG = str(Path(__file__).with_name("tiny_motr_qim_stages_config.py"))


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


@pytest.fixture(scope="module")
def quant_chain(float_run):
    env, split, ckpt = float_run
    for stage in ("calibration", "qat"):
        run_tool(env, "tools/train.py", "--stage", stage, "--config", CFG)
    for stage in PREDICT_STAGES[1:]:
        run_tool(env, "tools/predict.py", "--stage", stage, "--config", CFG)
    run_tool(env, "tools/export_hbir.py", "--config", CFG)
    run_tool(env, "tools/validation_hbir.py", "--stage", "align_bpu", "--config", CFG)
    return env, split, ckpt


def test_quantized_stages_track_and_ort_runs_the_loop_bit_for_bit(quant_chain):
    env, split, ckpt = quant_chain
    for stage in ("calibration", "qat"):
        assert (ckpt / f"{stage}-checkpoint-best.pth.tar").is_file()
    metrics = {s: stage_metrics(ckpt, s) for s in PREDICT_STAGES}
    for stage, m in metrics.items():
        assert m["dataset_size"] == metrics["float"]["dataset_size"], stage
        assert m["MOTA"] <= 1.0 and 0.0 <= m["IDF1"] <= 1.0, (stage, m)
    # both graphs exported: the base model and the query interaction module on the slots
    export = json.loads((ckpt / "tiny_motr_stages.int.export.json").read_text())
    assert export["inputs"] == {"img": [1, 3, 63, 112], "query_pos": [1, 14, 128],
                                "mask_query": [1, 14], "ref_pts": [1, 14, 2]}  # fmt: skip
    assert export["outputs"] == ["pred_logits", "pred_boxes", "hs"]
    qim = export["extra_graphs"]["qim"]
    assert qim["outputs"] == ["track_query_pos"] and Path(qim["path"]).is_file()
    assert not export["ort_op_classes"]["float_compute"]
    # the tracking loop on ORT: every frame's base and QIM outputs bit-identical with the
    # integer graphs on the same inputs, so the state carried across frames and the tracking
    # metrics are int_infer's
    align = stage_metrics(ckpt, "align_bpu")
    frames = metrics["int_infer"]["dataset_size"]
    assert align["samples"] == frames
    assert align["graph_calls"] == {"base": frames, "qim": frames}
    assert align["identical_fraction_bitwise"] == 1.0, align
    assert align["max_diff_lsb"] == 0.0, align
    assert set(align["outputs"]) == {"base.pred_logits", "base.pred_boxes", "base.hs",
                                     "qim.track_query_pos"}  # fmt: skip
    for key in ("MOTA", "IDF1", "HOTA"):
        assert align["metrics_ort"][key] == pytest.approx(metrics["int_infer"][key], abs=1e-12)
        assert align["metrics_int_infer_same_inputs"][key] == pytest.approx(
            metrics["int_infer"][key], abs=1e-12
        )


def test_checker_calops_and_export_of_the_qim_config(quant_chain):
    env, split, ckpt = quant_chain
    for cfg in (CFG, QIM_CFG):
        res = run_tool(env, "tools/model_checker.py", "--config", cfg, "--quiet")
        assert "RESULT: the model runs as an integer model" in res.stdout, cfg
    res = run_tool(env, "tools/calops.py", "--config", QIM_CFG)
    assert "Input: query_pos=(1, 4, 128), output_embedding=(1, 4, 64), mask_query=(1, 4)" in (
        res.stdout
    )
    # the QIM config exports the same graph from the tracker's QAT checkpoint
    run_tool(env, "tools/export_hbir.py", "--config", QIM_CFG)
    export = json.loads((ckpt / "tiny_motr_stages_qim.int.export.json").read_text())
    assert export["outputs"] == ["track_query_pos"]
    assert export["inputs"] == {"query_pos": [1, 4, 128], "output_embedding": [1, 4, 64],
                                "mask_query": [1, 4]}  # fmt: skip


def test_infer_tools_track_a_folder_of_frames(quant_chain, tmp_path):
    env, split, ckpt = quant_chain
    folder = next((split / "test").glob("*/img1"))
    frames = sorted(folder.glob("*.jpg"))
    outs = {}
    for tool, out in (("tools/infer.py", tmp_path / "float"), ("tools/infer_hbir.py",
                                                               tmp_path / "hbir")):  # fmt: skip
        res = run_tool(env, tool, "--config", CFG, "--model-inputs", f"frames:{folder}",
                       "--save-path", str(out))  # fmt: skip
        assert f"{len(frames)} frames" in res.stdout, res.stdout
        name = folder.parent.name
        assert (out / f"{name}.gif").stat().st_size > 0
        assert len(list((out / name).glob("*.png"))) == len(frames)
        rows = [line.split(",") for line in (out / f"{name}.txt").read_text().splitlines()]
        assert rows and all(len(r) == 10 for r in rows)
        assert {int(r[0]) for r in rows} <= set(range(1, len(frames) + 1))
        outs[tool] = rows
    # the deployed loop (both graphs on ORT) on the raw frames tracks exactly what the stages'
    # tracker wrote for this sequence (int_infer / align_bpu, from the packed frames)
    stage_rows = (ckpt / "mot_results" / f"{folder.parent.name}.txt").read_text().splitlines()
    assert sorted(r[:6] for r in outs["tools/infer_hbir.py"]) == sorted(
        line.split(",")[:6] for line in stage_rows
    )
    short = ["--model-inputs", f"frames:{folder},max_frames:3", "--save-path", str(tmp_path / "s")]
    res = run_tool(env, "tools/infer_hbir.py", "--config", CFG, *short)
    assert "3 frames" in res.stdout


def test_quant_analysis_compares_the_tracker_on_the_float_state(quant_chain, tmp_path):
    """The per-layer similarity on a tracker: the float loop drives and every graph call also
    runs the integer graph on the same inputs, so the QIM's layers compare like for like."""
    env, split, ckpt = quant_chain
    out = tmp_path / "qa"
    run_tool(env, "tools/quant_analysis.py", "--config", CFG, "--stage", "int_infer",
             "--max-batches", "3", "--out-dir", str(out))  # fmt: skip
    layers = {r["name"]: r for r in json.loads((out / "similarity.json").read_text())["layers"]}
    for name in ("[output].pred_boxes", "[output].hs", "[output].track_query_pos"):
        assert name in layers, sorted(layers)[:10]
    # the QIM's input is the float tracker's state: its stubs only round it
    assert layers["track_embed.query_quant"]["cosine"] > 0.999
    assert layers["track_embed.embed_quant"]["cosine"] > 0.99
    # the reference points' int16 sigmoid table on the float logits: nearly exact
    assert layers["head.transformer.decoder.ref_sigmoid.0"]["cosine"] > 0.99999
