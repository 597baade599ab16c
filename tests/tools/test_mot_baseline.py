"""tools/mot_baseline.py: the IoU tracker on hand-made det.txt rows (crossing objects, gaps,
blips, bad files) and end to end on a tiny synthetic MOT17 half evaluated against test_gt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stage_tools import run_tool, stage_folders

from hat.tools import mot_baseline
from hat.tools.mot_baseline import (
    TrackerParams,
    Tracks,
    iou_matrix,
    track_detections,
    track_sequence,
)


def write_sequence(root: Path, rows: list[tuple], num_frames: int, name: str = "MOT17-02-FRCNN"):
    """A sequence folder with ``seqinfo.ini`` and ``det/det.txt`` holding ``rows``
    ``(frame, left, top, width, height, score)``."""
    seq = root / name
    (seq / "det").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={num_frames}\n"
        "imWidth=640\nimHeight=480\nimExt=.jpg\n\n"
    )
    (seq / "det" / "det.txt").write_text(
        "".join(f"{f},-1,{l},{t},{w},{h},{s},-1,-1,-1\n" for f, l, t, w, h, s in rows)
    )
    return seq


def by_track(tracks: Tracks) -> dict[int, list[tuple[int, np.ndarray]]]:
    """``{id: [(frame, box), ...]}`` in frame order."""
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for f, i, b in zip(tracks.frames.tolist(), tracks.ids.tolist(), tracks.boxes):
        out.setdefault(i, []).append((f, b))
    return {i: sorted(v, key=lambda x: x[0]) for i, v in out.items()}


def test_crossing_objects_keep_their_ids(tmp_path):
    # A walks right at y=100, B walks left at y=140 (same size); they pass each other at frame 9
    rows = []
    for f in range(1, 17):
        rows.append((f, 100 + 5 * (f - 1), 100, 40, 100, 0.9))  # A
        rows.append((f, 180 - 5 * (f - 1), 140, 40, 100, 0.8))  # B
    rows.sort(key=lambda r: (r[0], -r[2]))  # B first in every frame: the order tells nothing
    seq = write_sequence(tmp_path, rows, 16)
    # a real ambiguity: A's frame-8 box overlaps B's frame-9 detection above the threshold
    a8 = np.array([[135.0, 100, 40, 100]])
    b9 = np.array([[140.0, 140, 40, 100]])
    assert iou_matrix(a8, b9)[0, 0] > TrackerParams().iou_threshold
    tracks = by_track(track_sequence(str(seq)))
    assert sorted(tracks) == [1, 2]
    for boxes in tracks.values():
        assert [f for f, _ in boxes] == list(range(1, 17))
        ys = {float(b[1]) for _, b in boxes}
        assert len(ys) == 1  # one object per id
        xs = np.array([b[0] for _, b in boxes])
        step = 5.0 if ys == {100.0} else -5.0
        assert np.allclose(np.diff(xs), step)
    # id 1 is the track seen first (B: first row of frame 1 in the file)
    assert float(tracks[1][0][1][1]) == 140.0


def test_assignment_maximises_the_total_iou():
    # frame 2: detection X is the best match of both tracks, Y fits only track 1; taking X for
    # track 1 (its best) would end track 2, the optimal assignment continues both
    frames = [1, 1, 2, 2]
    boxes = [[100, 0, 40, 100], [130, 0, 40, 100], [112, 0, 40, 100], [86, 0, 40, 100]]
    ious = iou_matrix(np.array(boxes[:2]), np.array(boxes[2:]))
    assert ious[0, 0] > ious[0, 1] > 0.3 and ious[1, 0] > 0.3 and ious[1, 1] == 0
    tracks = track_detections(frames, boxes, [0.9] * 4, TrackerParams(min_hits=1))
    assert {k: [float(b[0]) for _, b in v] for k, v in by_track(tracks).items()} == {
        1: [100.0, 86.0],
        2: [130.0, 112.0],
    }


def test_gap_longer_than_max_age_splits_a_track(tmp_path):
    box = (200, 100, 40, 100)
    params = TrackerParams(max_age=2)
    # missed in frames 6, 7 (2 frames = max_age): one track
    short_gap = [(f, *box, 0.9) for f in range(1, 13) if f not in (6, 7)]
    tracks = by_track(track_sequence(str(write_sequence(tmp_path / "a", short_gap, 12)), params))
    assert [[f for f, _ in v] for v in tracks.values()] == [[1, 2, 3, 4, 5, *range(8, 13)]]
    # missed in frames 6, 7, 8 (3 frames > max_age): two tracks
    long_gap = [(f, *box, 0.9) for f in range(1, 13) if f not in (6, 7, 8)]
    tracks = by_track(track_sequence(str(write_sequence(tmp_path / "b", long_gap, 12)), params))
    assert [[f for f, _ in v] for v in tracks.values()] == [[1, 2, 3, 4, 5], [9, 10, 11, 12]]
    # max_age 0: every miss ends the track
    tracks = by_track(
        track_sequence(str(tmp_path / "a" / "MOT17-02-FRCNN"), TrackerParams(max_age=0))
    )
    assert len(tracks) == 2


def test_min_hits_drops_a_blip_and_min_score_a_weak_box(tmp_path):
    rows = [(f, 200, 100, 40, 100, 0.9) for f in range(1, 9)]
    rows.append((4, 500, 300, 30, 80, 0.95))  # one-frame false positive
    rows += [(f, 50, 50, 40, 100, 0.2) for f in range(1, 9)]  # below --min-score 0.5
    rows.sort(key=lambda r: r[0])
    seq = str(write_sequence(tmp_path, rows, 8))
    tracks = track_sequence(seq)
    assert tracks.num_tracks == 1 and len(tracks) == 8
    assert np.all(tracks.boxes[:, 0] == 200) and np.allclose(tracks.scores, 0.9)
    kept = by_track(track_sequence(seq, TrackerParams(min_hits=1)))
    assert [[f for f, _ in v] for v in kept.values()] == [list(range(1, 9)), [4]]
    assert track_sequence(seq, TrackerParams(min_score=0.1)).num_tracks == 2


def test_bad_inputs_name_the_file(tmp_path, capsys):
    split = tmp_path / "split"
    seq = write_sequence(split, [(1, 0, 0, 10, 20, 0.9)], 4)
    (seq / "det" / "det.txt").write_text("1,-1,0,0,10,20,0.9,-1,-1,-1\n2,-1,0,0,10,20,0.9\n")
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as exc:
        mot_baseline.main(["--split-dir", str(split), "--out-dir", out])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert str(seq / "det" / "det.txt") in err and "line 2" in err and "expected 10" in err
    (seq / "det" / "det.txt").unlink()
    with pytest.raises(SystemExit) as exc:
        mot_baseline.main(["--split-dir", str(split), "--out-dir", out])
    assert exc.value.code == 1
    assert f"detections not found: {seq / 'det' / 'det.txt'}" in capsys.readouterr().err
    (seq / "det" / "det.txt").write_text("5,-1,0,0,10,20,0.9,-1,-1,-1\n")
    with pytest.raises(SystemExit) as exc:
        mot_baseline.main(["--split-dir", str(split), "--out-dir", out])
    assert "line 1: frame 5 is past the sequence's seqLength=4" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_mot17(tmp_path_factory):
    env, base, _, _ = stage_folders(tmp_path_factory, "mot_baseline")
    raw = base / "MOT17"
    run_tool(
        env, "tools/datasets/make_synthetic.py", "mot17", "--out", str(raw), "--num-seqs", "1",
        "--num-test-seqs", "0", "--frames", "16", "--image-scale", "0.1", "--seed", "0",
        "--num-workers", "0",
    )  # fmt: skip
    run_tool(env, "tools/dataset_converters/gen_mot_data.py", "--src-data-path", str(raw))
    split = raw / "split_data"
    run_tool(
        env, "tools/datasets/mot17_packer.py", "--src-data-dir", str(split),
        "--split-name", "test", "--pack-type", "lmdb", "--num-workers", "0",
    )  # fmt: skip
    return env, base, split


def test_end_to_end_on_synthetic_mot17(tiny_mot17):
    env, base, split = tiny_mot17
    out, metrics = base / "baseline", base / "metrics" / "baseline.json"
    res = run_tool(
        env, "tools/mot_baseline.py", "--split-dir", str(split / "test"),
        "--gt-dir", str(split / "test_gt"), "--out-dir", str(out), "--output", str(metrics),
    )  # fmt: skip
    assert "OVERALL" in res.stdout and "MOTA" in res.stdout
    assert [p.name for p in out.iterdir()] == ["MOT17-02-FRCNN.txt"]
    doc = json.loads(metrics.read_text())
    assert set(doc) == {"gt_dir", "res_dir", "fmt", "sequences", "tracker", "MOTA", "IDF1",
                        "HOTA", "dataset_size"}  # fmt: skip
    assert doc["tracker"] == {"min_score": 0.5, "iou_threshold": 0.3, "max_age": 5, "min_hits": 2}
    overall = doc["sequences"]["OVERALL"]
    # the headline scores at the top, as MotMetric names them
    assert (doc["MOTA"], doc["IDF1"], doc["HOTA"]) == (
        overall["mota"], overall["idf1"], overall["HOTA"]
    )
    assert doc["dataset_size"] == 7
    assert overall["mota"] > 0.0 and 0.0 < overall["idf1"] <= 1.0 and 0.0 < overall["HOTA"] <= 1
    # the result file: MOTChallenge rows inside the test half's renumbered frames
    rows = np.loadtxt(out / "MOT17-02-FRCNN.txt", delimiter=",", ndmin=2)
    assert rows.shape[1] == 10 and rows[:, 0].min() >= 1 and rows[:, 0].max() <= 7
    print({k: round(overall[k], 4) for k in ("mota", "idf1", "HOTA")})


def test_gt_sequence_missing_from_split(tiny_mot17, tmp_path, capsys):
    _, _, split = tiny_mot17
    other = tmp_path / "split"
    write_sequence(other, [(1, 0, 0, 10, 20, 0.9)], 4, name="MOT17-04-FRCNN")
    with pytest.raises(SystemExit) as exc:
        mot_baseline.main(
            ["--split-dir", str(other), "--gt-dir", str(split / "test_gt"), "--out-dir",
             str(tmp_path / "out")]
        )  # fmt: skip
    assert exc.value.code == 1
    assert "has sequence(s) MOT17-02-FRCNN that --split-dir" in capsys.readouterr().err
