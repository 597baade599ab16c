"""The MOT evaluator on hand-checked cases, its file checks, MotMetric (single process and two
DDP ranks) and the mot_eval command."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gloo_ranks import on_two_ranks
from mot_references import gt_line, random_sequence, res_line, write_case

from hat.data.errors import CorruptFileError
from hat.metrics.mot import OVERALL, evaluate_dirs, evaluate_sequence, read_ground_truth
from hat.metrics.mot.io import read_results
from hat.metrics.mot.mot_metric import DEFAULT_VALUES, MotMetric
from hat.registry import build_from_registry
from hat.tools import mot_eval

ROOT = Path(__file__).resolve().parents[2]


def _files(tmp_path: Path, gt: str, res: str):
    (tmp_path / "gt.txt").write_text(gt)
    (tmp_path / "res.txt").write_text(res)
    return read_ground_truth(tmp_path / "gt.txt"), read_results(tmp_path / "res.txt")


def test_hand_checked_clear_and_identity(tmp_path):
    """Frame 1: h1 on o1 (IoU 1), h2 on o2 shifted 2 px (IoU 80/120); frame 2: h1 on o1, o2
    missed, h3 far away; frame 3: h1 and h2 exchange their objects (IoU 1)."""
    o1, o2 = (0, 0, 10, 10), (100, 0, 10, 10)
    gt = "".join(gt_line(f, 1, o1) + gt_line(f, 2, o2) for f in (1, 2, 3))
    res = (
        res_line(1, 1, o1) + res_line(1, 2, (102, 0, 10, 10))
        + res_line(2, 1, o1) + res_line(2, 3, (500, 500, 10, 10))
        + res_line(3, 2, o1) + res_line(3, 1, o2)
    )  # fmt: skip
    s = evaluate_sequence("hand", *_files(tmp_path, gt, res), num_frames=3).scores()
    # 6 objects: 3 matches, 2 switches (frame 3), 1 miss; 1 false positive
    assert (s["num_matches"], s["num_switches"], s["num_misses"]) == (3, 2, 1)
    assert (s["num_false_positives"], s["num_transfer"], s["num_ascend"]) == (1, 2, 0)
    assert s["mota"] == pytest.approx(1 - (1 + 2 + 1) / 6)
    assert s["motp"] == pytest.approx((0 + 40 / 120 + 0 + 0 + 0) / 5)  # mean 1 - IoU
    assert s["recall"] == pytest.approx(5 / 6) and s["precision"] == pytest.approx(5 / 6)
    # o1 tracked 3/3 (MT), o2 2/3 (PT) with one fragmentation
    assert (s["mostly_tracked"], s["partially_tracked"], s["mostly_lost"]) == (1, 1, 0)
    assert s["num_fragmentations"] == 1
    # identity: best pairing o1-h1 (2 frames) + o2-h2 (1 frame) = 3 of 6 and 6
    assert (s["idtp"], s["idfp"], s["idfn"]) == (3, 3, 3)
    assert s["idf1"] == pytest.approx(0.5)


def test_hand_checked_hota(tmp_path):
    """One object over 4 frames, tracked exactly by id 1 then id 2: every detection is right
    (DetA 1) and each true positive's trajectories share half their frames (AssA 1/2)."""
    box = (10, 10, 20, 40)
    gt = "".join(gt_line(f, 5, box) for f in range(1, 5))
    res = "".join(res_line(f, 1 if f <= 2 else 2, box) for f in range(1, 5))
    s = evaluate_sequence("hota", *_files(tmp_path, gt, res)).scores()
    assert s["DetA"] == 1 and s["LocA"] == 1
    assert s["AssA"] == pytest.approx(2 / (4 + 2 - 2))
    assert s["HOTA"] == pytest.approx(math.sqrt(0.5))
    assert s["mota"] == pytest.approx(1 - 1 / 4)  # one switch
    assert s["idf1"] == pytest.approx(2 * 2 / 8)


def test_localisation_thresholds_split_detection_accuracy(tmp_path):
    """A box at IoU 0.62 is a true positive for the 12 thresholds 0.05..0.60 and a miss plus a
    false positive for the 7 above: DetA = (12 * 1 + 7 * 0) / 19."""
    gt = gt_line(1, 1, (0, 0, 100, 100))
    res = res_line(1, 1, (0, 0, 100, 62))
    s = evaluate_sequence("alpha", *_files(tmp_path, gt, res)).scores()
    assert s["DetA"] == pytest.approx(12 / 19)
    assert s["LocA"] == pytest.approx((12 * 0.62 + 7 * 1.0) / 19)  # empty thresholds: LocA 1
    assert s["mota"] == 1 and s["motp"] == pytest.approx(0.38)


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("gt.txt", "1,1,0,0,10,10,1,1,1\n1,2,0,0,10,10,1,1\n", 2, "8 fields, expected 9"),
        ("gt.txt", "1,1,0,0,10,10,1,1,1\n\n2,1,0,zero,10,10,1,1,1\n", 3, "non-numeric"),
        ("gt.txt", "1,1,0,0,10,10,2,1,1\n", 1, "consider flag must be 0 or 1"),
        ("gt.txt", "1,1,0,0,10,10,1,14,1\n", 1, "class must be one of"),
        ("gt.txt", "0,1,0,0,10,10,1,1,1\n", 1, "frame must be an integer >= 1"),
        ("gt.txt", "1,1,0,0,10,10,1,1,1\n1,1,5,5,10,10,1,1,1\n", 2, "appears twice in frame 1"),
        ("res.txt", "1,1,0,0,10,10\n", 1, "6 fields, expected 7..10"),
        ("res.txt", "1,1.5,0,0,10,10,1,-1,-1,-1\n", 1, "id must be an integer"),
        ("gt.txt", "1,1,0,0,-10,10,1,1,1\n", 1, "width/height must be >= 0"),
        ("res.txt", "1,1,0,0,nan,10,1,-1,-1,-1\n", 1, "non-finite"),
    ],
)
def test_malformed_line_is_named(tmp_path, name, text, line, message):
    path = tmp_path / name
    path.write_text(text)
    reader = read_ground_truth if name == "gt.txt" else read_results
    with pytest.raises(CorruptFileError) as info:
        reader(path)
    assert f"{path}, line {line}: " in str(info.value)
    assert message in str(info.value)


def test_blank_separated_results_and_frame_beyond_seq_length(tmp_path):
    gt, res = _files(tmp_path, gt_line(1, 1, (0, 0, 10, 10)), "1 7 0 0 10 10 0.9\n4 7 0 0 1 1 1\n")
    assert res.ids.tolist() == [7, 7] and res.conf.tolist() == [0.9, 1.0]
    with pytest.raises(CorruptFileError, match=r"res\.txt, line 2: frame 4 is beyond .* 3 frames"):
        evaluate_sequence("s", gt, res, num_frames=3)


def test_result_box_of_negative_size_is_a_false_positive(tmp_path):
    gt = gt_line(1, 1, (0, 0, 10, 10))
    res = res_line(1, 1, (0, 0, -10, 10)) + res_line(1, 2, (10, 10, -10, -10))
    s = evaluate_sequence("neg", *_files(tmp_path, gt, res)).scores()
    assert (s["num_false_positives"], s["num_misses"], s["num_matches"]) == (2, 1, 0)


def _case(tmp_path: Path, seeds=(0, 1, 2)):
    seqs = {f"SEQ-{s:02d}": (30, *random_sequence(s)) for s in seeds}
    return write_case(tmp_path, seqs)


def test_missing_result_file_is_an_error(tmp_path):
    gt_dir, res_dir = _case(tmp_path)
    (res_dir / "SEQ-01.txt").unlink()
    with pytest.raises(ValueError, match="no result file for sequence.*SEQ-01"):
        evaluate_dirs(gt_dir, res_dir)


def test_seqinfo_without_seq_length_is_named(tmp_path):
    gt_dir, res_dir = _case(tmp_path, seeds=(0,))
    ini = gt_dir / "SEQ-00" / "seqinfo.ini"
    ini.write_text("[Sequence]\nname=SEQ-00\nframeRate=30\n")
    with pytest.raises(CorruptFileError, match=f"{ini}: missing key 'seqLength' in \\[Sequence\\]"):
        evaluate_dirs(gt_dir, res_dir)
    ini.unlink()  # without seqinfo.ini: the last frame of either file
    assert evaluate_dirs(gt_dir, res_dir)[0]["SEQ-00"]["num_objects"] > 0


def _frame_outputs(res_dir: Path, seq: str) -> list[dict]:
    """Per-frame tracker outputs (xyxy tensors) equal to the rows of ``res_dir/seq.txt``."""
    table = read_results(res_dir / f"{seq}.txt")
    outputs = []
    for frame in range(1, 31):
        rows = table.frames == frame
        boxes = table.boxes[rows].copy()
        boxes[:, 2:] += boxes[:, :2]
        outputs.append(
            dict(
                seq_name=seq,
                frame_id=torch.tensor(frame),
                boxes=torch.from_numpy(boxes),
                ids=torch.from_numpy(table.ids[rows]),
                scores=torch.from_numpy(table.conf[rows]),
            )
        )
    return outputs


def test_mot_metric_writes_results_and_equals_the_files(tmp_path):
    gt_dir, res_dir = _case(tmp_path)
    expected, _ = evaluate_dirs(gt_dir, res_dir)
    metric = build_from_registry(
        dict(type="MotMetric", gt_dir=str(gt_dir), save_prefix=str(tmp_path / "out"))
    )
    for seq in ("SEQ-00", "SEQ-01", "SEQ-02"):
        outputs = _frame_outputs(res_dir, seq)
        metric.update(None, outputs[:10])
        for out in outputs[10:]:
            metric.update(None, out)
        metric.update(None, outputs[3])  # a padded duplicate counts once
    names, values = metric.get()
    assert names == [n for n, _ in DEFAULT_VALUES]
    assert values == pytest.approx([expected[OVERALL][k] for _, k in DEFAULT_VALUES])
    assert metric.last_table["SEQ-01"] == pytest.approx(expected["SEQ-01"])
    written = read_results(tmp_path / "out" / "SEQ-02.txt")
    original = read_results(res_dir / "SEQ-02.txt")
    order = np.lexsort((original.ids, original.frames))
    assert np.array_equal(written.ids, original.ids[order])
    assert np.allclose(written.boxes, original.boxes[order], atol=0.006)
    metric.reset()
    _, empty = metric.get()  # no outputs: every sequence evaluated as all missed
    assert dict(zip(names, empty))["FN"] == expected[OVERALL]["num_objects"]


def _metric_on_rank(rank: int, gt_dir: str, res_dir: str, out_dir: str) -> dict:
    metric = MotMetric(gt_dir, out_dir, log_table=False)
    for seq in ("SEQ-00", "SEQ-01", "SEQ-02"):
        outputs = _frame_outputs(Path(res_dir), seq)
        # ranks take alternate frames; the last one also on rank 1 (sampler padding)
        mine = outputs[rank::2] + ([outputs[-2]] if rank == 1 else [])
        metric.update(None, mine)
    names, values = metric.get()
    return {"names": names, "values": values}


def test_mot_metric_gathers_frames_of_two_ranks(tmp_path):
    gt_dir, res_dir = _case(tmp_path)
    expected, _ = evaluate_dirs(gt_dir, res_dir)
    fn = functools.partial(_metric_on_rank, gt_dir=str(gt_dir), res_dir=str(res_dir),
                           out_dir=str(tmp_path / "out"))  # fmt: skip
    got = on_two_ranks(fn, tmp_path)
    assert got["values"] == pytest.approx([expected[OVERALL][k] for _, k in DEFAULT_VALUES])


def test_mot_metric_rejects_incomplete_outputs(tmp_path):
    metric = MotMetric(str(tmp_path), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="lacks \\['ids', 'scores'\\]"):
        metric.update(None, dict(seq_name="S", frame_id=1, boxes=torch.zeros(0, 4)))


def _run_cli(*args: str, block_references: bool = False) -> subprocess.CompletedProcess:
    block = "import sys; sys.modules.update(motmetrics=None, trackeval=None, pandas=None); "
    code = (block if block_references else "") + (
        "from hat.tools.mot_eval import main; main(sys.argv[1:])"
    )
    return subprocess.run(
        [sys.executable, "-c", "import sys; " + code, *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


def test_cli_prints_and_writes_json_without_the_reference_packages(tmp_path):
    gt_dir, res_dir = _case(tmp_path)
    out = tmp_path / "metrics.json"
    proc = _run_cli("--gt-dir", str(gt_dir), "--res-dir", str(res_dir), "--output", str(out),
                    block_references=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("SEQ-00", "SEQ-01", "SEQ-02", OVERALL, "MOTA", "IDF1", "HOTA"):
        assert name in proc.stdout
    doc = json.loads(out.read_text())
    expected, _ = evaluate_dirs(gt_dir, res_dir)
    assert doc["fmt"] == "mot17"
    assert set(doc["sequences"]) == set(expected)
    for seq, scores in expected.items():
        assert doc["sequences"][seq] == pytest.approx(scores)


def test_cli_names_the_malformed_line(tmp_path, capsys):
    gt_dir, res_dir = _case(tmp_path, seeds=(0,))
    gt = gt_dir / "SEQ-00" / "gt" / "gt.txt"
    lines = gt.read_text().splitlines(keepends=True)
    lines[4] = "5,1,10,20,30\n"
    gt.write_text("".join(lines))
    with pytest.raises(SystemExit) as info:
        mot_eval.main(["--gt-dir", str(gt_dir), "--res-dir", str(res_dir), "--fmt", "mot16"])
    assert info.value.code == 1
    assert f"mot_eval: error: {gt}, line 5: 5 fields, expected 9" in capsys.readouterr().err
