"""The MOT evaluator equals motmetrics 1.4.0 (CLEAR MOT, identity) and TrackEval 1.3.0 (HOTA,
and its CLEAR and Identity) to 1e-6 on the same MOTChallenge folders."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from mot_references import (
    CASES,
    MOTMETRICS_NAMES,
    random_sequence,
    res_line,
    run_motmetrics,
    run_trackeval,
    write_case,
)

from hat.data.synthetic.mot17 import make_mot17
from hat.metrics.mot import OVERALL, evaluate_dirs, read_ground_truth

# motmetrics' loader subtracts a tuple from two columns, which pandas 3 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:Operation with tuple is deprecated")
TOL = 1e-6
HOTA_FIELDS = ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr", "HOTA(0)",
               "LocA(0)")  # fmt: skip
# TrackEval CLEAR/Identity name -> ours; TrackEval's ratios are 0 where motmetrics' are NaN
TRACKEVAL_CLEAR = {
    "MOTA": "mota", "MOTP": "motp_iou", "CLR_TP": "num_detections", "CLR_FN": "num_misses",
    "CLR_FP": "num_false_positives", "IDSW": "num_switches", "MT": "mostly_tracked",
    "PT": "partially_tracked", "ML": "mostly_lost", "Frag": "num_fragmentations",
    "IDF1": "idf1", "IDP": "idp", "IDR": "idr", "IDTP": "idtp", "IDFN": "idfn", "IDFP": "idfp",
}  # fmt: skip


def _evaluate_all(root, sequences):
    gt_dir, res_dir = write_case(root, sequences)
    names = sorted(sequences)
    ours, _ = evaluate_dirs(gt_dir, res_dir)
    return ours, run_motmetrics(gt_dir, res_dir, names), run_trackeval(gt_dir, res_dir, names)


@pytest.fixture(scope="module")
def designed(tmp_path_factory):
    return _evaluate_all(tmp_path_factory.mktemp("designed"), {n: c() for n, c in CASES.items()})


@pytest.fixture(scope="module")
def random_scenes(tmp_path_factory):
    seqs = {f"RAND-{s:02d}": (30, *random_sequence(s)) for s in range(4)}
    return _evaluate_all(tmp_path_factory.mktemp("random"), seqs)


def _assert_close(ours: dict, theirs: dict, mapping: dict, where: str) -> None:
    for their_key, our_key in mapping.items():
        a, b = ours[our_key], theirs[their_key]
        if isinstance(b, float) and math.isnan(b):
            assert math.isnan(a), f"{where}: {our_key} = {a}, reference {their_key} = nan"
        else:
            assert a == pytest.approx(b, abs=TOL), f"{where}: {our_key} = {a}, {their_key} = {b}"


def _expected_trackeval_clear(ours: dict) -> dict:
    """TrackEval's CLEAR/Identity names; its ratios with a zero denominator are 0."""
    mapping = dict(TRACKEVAL_CLEAR)
    if ours["num_objects"] == 0:
        for key in ("MOTA", "IDR"):
            mapping.pop(key)  # motmetrics: -inf / NaN; TrackEval: -FP / 0
    if ours["num_detections"] == 0:
        mapping.pop("MOTP")
        mapping.pop("IDP")
    return mapping


@pytest.mark.parametrize("case", sorted(CASES))
def test_designed_case_equals_motmetrics(designed, case):
    ours, mm, _ = designed
    _assert_close(ours[case], mm[case], {n: n for n in MOTMETRICS_NAMES}, f"{case} vs motmetrics")


@pytest.mark.parametrize("case", sorted(CASES))
def test_designed_case_equals_trackeval(designed, case):
    ours, _, te = designed
    _assert_close(ours[case], te[case], {k: k for k in HOTA_FIELDS}, f"{case} vs TrackEval HOTA")
    _assert_close(ours[case], te[case], _expected_trackeval_clear(ours[case]), f"{case} vs TE")


def test_designed_cases_count_what_they_were_built_for(designed):
    ours = designed[0]
    perfect = ours["perfect"]
    assert (perfect["mota"], perfect["idf1"], perfect["HOTA"], perfect["motp"]) == (1, 1, 1, 0)
    assert ours["distractors"]["removed_results"] == 10 + 5 + 10
    assert ours["distractors"]["num_false_positives"] == 5 + 10 + 10
    assert ours["id_switch"]["num_switches"] == 3
    assert ours["id_switch"]["num_transfer"] == 2
    assert ours["fragmentation"]["num_fragmentations"] == 2
    assert ours["fragmentation"]["partially_tracked"] == 1
    assert ours["empty_result"]["num_misses"] == 16
    assert ours["empty_result"]["HOTA"] == 0
    assert ours["zero_gt"]["num_objects"] == 0
    assert ours["zero_gt"]["num_false_positives"] == 12
    assert ours["zero_gt"]["mota"] == -math.inf


def test_designed_overall_equals_references(designed):
    ours, mm, te = designed
    names = {n: n for n in MOTMETRICS_NAMES if n != "motp"}
    _assert_close(ours[OVERALL], mm[OVERALL], names, "OVERALL vs motmetrics")
    # motmetrics weights per-sequence MOTPs: NaN once a sequence has no detection
    assert math.isnan(mm[OVERALL]["motp"])
    parts = [ours[c] for c in CASES]
    summed = sum(p["motp"] * p["num_detections"] for p in parts if p["num_detections"])
    assert ours[OVERALL]["motp"] == pytest.approx(summed / ours[OVERALL]["num_detections"])
    _assert_close(ours[OVERALL], te[OVERALL], {k: k for k in HOTA_FIELDS}, "OVERALL vs TE HOTA")
    _assert_close(ours[OVERALL], te[OVERALL], _expected_trackeval_clear(ours[OVERALL]), "TE")


def test_random_scenes_equal_motmetrics(random_scenes):
    ours, mm, _ = random_scenes
    for seq in mm:
        _assert_close(ours[seq], mm[seq], {n: n for n in MOTMETRICS_NAMES}, f"{seq} vs motmetrics")
    assert sum(ours[s]["removed_results"] for s in mm if s != OVERALL) > 0


def test_random_scenes_equal_trackeval(random_scenes):
    ours, _, te = random_scenes
    # TrackEval's fragmentation count differs by design (see hat.metrics.mot.clear)
    mapping = {k: v for k, v in TRACKEVAL_CLEAR.items() if k != "Frag"}
    for seq in te:
        _assert_close(ours[seq], te[seq], {k: k for k in HOTA_FIELDS}, f"{seq} vs TrackEval")
        _assert_close(ours[seq], te[seq], mapping, f"{seq} vs TrackEval CLEAR/Identity")


def test_mot15_format_equals_trackeval_mot15(tmp_path):
    """MOT15 ground truth (10 fields, no classes): no distractor preprocessing, boxes with a
    zero conf ignored, in both."""
    sequences = {}
    for s in range(2):
        gt_text, res_text = random_sequence(10 + s)
        rows = [line.split(",") for line in gt_text.splitlines()]
        gt15 = "".join(",".join(r[:6] + [r[6], "-1", "-1", "-1"]) + "\n" for r in rows)
        sequences[f"MOT15-{s:02d}"] = (30, gt15, res_text)
    gt_dir, res_dir = write_case(tmp_path, sequences)
    ours, _ = evaluate_dirs(gt_dir, res_dir, fmt="mot15-2D")
    te = run_trackeval(gt_dir, res_dir, sorted(sequences), benchmark="MOT15")
    mapping = {k: v for k, v in TRACKEVAL_CLEAR.items() if k != "Frag"}
    for seq in te:
        _assert_close(ours[seq], te[seq], {k: k for k in HOTA_FIELDS}, f"{seq} vs TrackEval")
        _assert_close(ours[seq], te[seq], mapping, f"{seq} vs TrackEval CLEAR/Identity")
    assert ours[OVERALL]["removed_results"] == 0


def test_synthetic_mot17_ground_truth_equals_references(tmp_path):
    """The synthetic MOT17 release (all classes, consider flags, occlusions) as ground truth and
    a tracker that misses 10 %, jitters (some boxes of negative width), and renews every third
    object's id every 15 frames."""
    make_mot17(tmp_path / "MOT17", num_seqs=2, num_test_seqs=0, frames=40, image_scale=0.25)
    rng = np.random.default_rng(0)
    gt_dir, res_dir = tmp_path / "gt", tmp_path / "res"
    res_dir.mkdir()
    seqs = []
    for src in sorted((tmp_path / "MOT17" / "train").glob("*-FRCNN")):
        (gt_dir / src.name / "gt").mkdir(parents=True)
        shutil.copy(src / "gt" / "gt.txt", gt_dir / src.name / "gt" / "gt.txt")
        shutil.copy(src / "seqinfo.ini", gt_dir / src.name / "seqinfo.ini")
        gt = read_ground_truth(src / "gt" / "gt.txt")
        lines = []
        for frame, tid, box in zip(gt.frames, gt.ids, gt.boxes):
            if rng.random() < 0.1:
                continue
            hid = tid + 100 * (frame // 15 if tid % 3 == 0 else 0)
            lines.append(res_line(frame, hid, np.round(box + rng.normal(0, 1.5, 4), 2)))
        (res_dir / f"{src.name}.txt").write_text("".join(lines))
        seqs.append(src.name)
    ours, _ = evaluate_dirs(gt_dir, res_dir)
    mm = run_motmetrics(gt_dir, res_dir, seqs)
    te = run_trackeval(gt_dir, res_dir, seqs)
    assert ours[OVERALL]["removed_results"] > 0 and ours[OVERALL]["num_switches"] > 0
    # MT: TrackEval needs a tracked ratio above 0.8, motmetrics at least 0.8; Frag differs by
    # design (see hat.metrics.mot.clear)
    te_mapping = {k: v for k, v in TRACKEVAL_CLEAR.items() if k not in ("MT", "PT", "Frag")}
    for seq in mm:
        _assert_close(ours[seq], mm[seq], {n: n for n in MOTMETRICS_NAMES}, f"{seq} vs motmetrics")
        _assert_close(ours[seq], te[seq], {k: k for k in HOTA_FIELDS}, f"{seq} vs TrackEval")
        _assert_close(ours[seq], te[seq], te_mapping, f"{seq} vs TrackEval CLEAR/Identity")
