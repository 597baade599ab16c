"""The synthetic MOT17: the release's layout, gt as MOT17 writes it, visibility from the
rendered occlusion, detector noise per detector, determinism, re-runs and the half split."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from hat.data.mot17_half_split import make_half_split
from hat.data.readers.mot17_files import read_det, read_gt
from hat.data.readers.mot17_layout import Mot17Layout
from hat.data.synthetic.mot17 import make_mot17
from hat.data.synthetic.mot17_scene import MOT17_SEQUENCES, SequenceScene
from hat.tools.make_synthetic import main as make_synthetic

SCALE, FRAMES, SEED = 0.2, 16, 3


@pytest.fixture(scope="module")
def mot_root(tmp_path_factory) -> str:
    """Train videos 02 (fixed camera, shop window), 04 (high view), 05 (640x480, 14 fps,
    moving camera) and test video 01, 16 frames each, at 0.2 x the real size."""
    root = str(tmp_path_factory.mktemp("mot") / "MOT17")
    summary = make_mot17(root, num_seqs=3, num_test_seqs=1, seed=SEED, frames=FRAMES,
                         image_scale=SCALE)  # fmt: skip
    assert summary["train"] == 3 and summary["test"] == 1 and summary["frames"] == 4 * FRAMES
    return root


def test_layout_is_the_release_layout(mot_root):
    layout = Mot17Layout(mot_root)
    videos = layout.videos("train")
    assert [v.name for v in videos] == ["MOT17-02", "MOT17-04", "MOT17-05"]
    assert all(v.detectors == ["DPM", "FRCNN", "SDP"] for v in videos)
    sizes = {v.name: (v.info.im_width, v.info.im_height, v.info.frame_rate) for v in videos}
    assert sizes == {"MOT17-02": (384, 216, 30), "MOT17-04": (384, 216, 30),
                     "MOT17-05": (128, 96, 14)}  # fmt: skip
    for video in videos:
        frcnn, dpm = video.copy("FRCNN"), video.copy("DPM")
        assert frcnn.info.seq_length == FRAMES and frcnn.info.name == f"{video.name}-FRCNN"
        paths = frcnn.image_paths()
        img = cv2.imread(paths[-1])
        assert img.shape == (frcnn.info.im_height, frcnn.info.im_width, 3)
        with open(paths[0], "rb") as a, open(dpm.image_paths()[0], "rb") as b:
            assert a.read() == b.read()  # the copies share images ...
        with open(frcnn.gt_path) as a, open(dpm.gt_path) as b:
            assert a.read() == b.read()  # ... and gt
        assert len(frcnn.read_det()) != len(dpm.read_det())  # only det differs
    (test,) = layout.videos("test")
    assert test.name == "MOT17-01" and not any(s.has_gt for s in test.copies.values())
    assert len(test.copy("SDP").read_det()) > 0


def test_gt_rows_classes_and_consider_flags_as_mot17(mot_root):
    layout = Mot17Layout(mot_root)
    classes = set()
    for video in layout.videos("train"):
        gt = video.copy("FRCNN").read_gt()
        order = np.lexsort((gt.frames, gt.ids))
        assert np.array_equal(order, np.arange(len(gt)))  # grouped by id, then frame
        assert set(gt.classes.tolist()) <= {1, 7, 8, 12}
        np.testing.assert_array_equal(gt.consider, (gt.classes == 1).astype(np.uint8))
        assert 0 < np.mean(gt.visibility < 1) < 1  # occluded and unoccluded rows
        assert np.all(gt.boxes[:, 2:] > 0) and gt.frames.max() == FRAMES
        classes |= set(gt.classes.tolist())
    assert classes == {1, 7, 8, 12}  # pedestrians, static people, distractors, reflections


def _static_person_boxes(root: str, video: str) -> dict[int, np.ndarray]:
    gt = read_gt(os.path.join(root, "train", f"{video}-FRCNN", "gt", "gt.txt"))
    return {int(i): gt.boxes[(gt.ids == i)] for i in np.unique(gt.ids[gt.classes == 7])}


def test_fixed_and_moving_cameras(mot_root):
    fixed = _static_person_boxes(mot_root, "MOT17-02")
    assert fixed and all(np.ptp(b, axis=0).max() == 0 for b in fixed.values())
    moving = _static_person_boxes(mot_root, "MOT17-05")  # the camera pans: they slide
    assert moving and all(np.ptp(b[:, 0]) > 0 for b in moving.values())


def test_pedestrians_walk_enter_and_leave(mot_root):
    gt = read_gt(os.path.join(mot_root, "train", "MOT17-02-FRCNN", "gt", "gt.txt"))
    ped = gt.select(gt.classes == 1)
    centers = ped.boxes[:, :2] + ped.boxes[:, 2:] / 2
    moved = [np.abs(np.ptp(centers[ped.ids == i], axis=0)).max() for i in np.unique(ped.ids)]
    assert np.median(moved) > 2  # pixels over 16 frames at 384x216
    gt = read_gt(os.path.join(mot_root, "train", "MOT17-05-FRCNN", "gt", "gt.txt"))
    ped = gt.select(gt.classes == 1)
    spans = [(ped.frames[ped.ids == i].min(), ped.frames[ped.ids == i].max())
             for i in np.unique(ped.ids)]  # fmt: skip
    assert any(first > 1 for first, _ in spans)  # entered the view
    assert any(last < FRAMES for _, last in spans)  # left it


def test_visibility_boxes_and_gt_file_agree_with_the_rendering(mot_root):
    """Re-render video 02 as the generator did: the gt rows are the rendered figures; each
    visibility is the figure's share of pixels left in the id map; every pixel of a figure
    lies in its box; a figure with no other figure in its box is fully visible."""
    spec = MOT17_SEQUENCES[0]
    scene = SequenceScene(spec, 384, 216, FRAMES, np.random.default_rng([SEED, 2, 0]))
    gt = read_gt(os.path.join(mot_root, "train", "MOT17-02-FRCNN", "gt", "gt.txt"))
    occluded = alone = 0
    for t in range(FRAMES):
        _, ids, objects = scene.render(t)
        rows = gt.select(gt.frames == t + 1)
        assert sorted(rows.ids.tolist()) == sorted(o.track_id for o in objects)
        for o in objects:
            row = rows.select(rows.ids == o.track_id)
            np.testing.assert_array_equal(row.boxes[0], o.box)
            assert row.classes[0] == o.cls
            assert abs(float(row.visibility[0]) - o.visibility) < 1e-5
            ys, xs = np.nonzero(ids == o.track_id)
            assert len(ys) == o.visible_pixels
            assert o.visibility == pytest.approx(len(ys) / o.pixels)
            left, top, w, h = o.box
            if len(ys):
                assert left <= xs.min() and xs.max() < left + w
                assert top <= ys.min() and ys.max() < top + h
            inside = left >= 0 and top >= 0 and left + w <= 384 and top + h <= 216
            in_box = ids[max(top, 0) : top + h, max(left, 0) : left + w]
            others = np.setdiff1d(np.unique(in_box), [0, o.track_id])
            if inside and others.size == 0:
                assert o.visibility == 1.0
                alone += 1
            if inside and o.visibility < 1:
                assert others.size > 0  # hidden by another figure
                occluded += 1
    assert occluded > 0 and alone > 0


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax2, ay2, bx2, by2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2) - np.maximum(a[:, None, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2) - np.maximum(a[:, None, 1], b[:, 1]), 0, None)
    inter = iw * ih
    return inter / (a[:, None, 2] * a[:, None, 3] + b[:, 2] * b[:, 3] - inter)


def _det_stats(root: str, detector: str) -> tuple[float, int, float, np.ndarray]:
    """Recall of considered pedestrians (IoU >= 0.5, greedy), unmatched detections, mean IoU
    of the matches, all scores; over the train videos."""
    hits = total = unmatched = 0
    ious, scores = [], []
    for video in Mot17Layout(root).videos("train"):
        gt, det = video.copy("FRCNN").read_gt(), video.copy(detector).read_det()
        scores.append(det.scores)
        for f in range(1, FRAMES + 1):
            g = gt.boxes[(gt.frames == f) & (gt.classes == 1)].astype(np.float64)
            d = det.boxes[det.frames == f].astype(np.float64)
            total += len(g)
            matched = 0
            if len(g) and len(d):
                iou = _iou(g, d)
                while iou.size and iou.max() >= 0.5:
                    i, j = np.unravel_index(iou.argmax(), iou.shape)
                    ious.append(iou[i, j])
                    iou[i, :], iou[:, j] = -1, -1
                    matched += 1
            hits += matched
            unmatched += len(d) - matched
    return hits / total, unmatched, float(np.mean(ious)), np.concatenate(scores)


def test_detector_noise_differs_between_detectors(mot_root):
    dpm, frcnn, sdp = (_det_stats(mot_root, d) for d in ("DPM", "FRCNN", "SDP"))
    assert dpm[0] + 0.08 < frcnn[0] and dpm[0] + 0.08 < sdp[0]  # DPM misses more
    assert dpm[1] > 1.5 * sdp[1] and dpm[1] > frcnn[1]  # and fires more on nothing
    assert dpm[2] < frcnn[2] and dpm[2] < sdp[2]  # its boxes jitter more
    assert dpm[3].min() < 0 and dpm[3].max() > 1  # DPM scores are not in [0, 1]
    for scores in (frcnn[3], sdp[3]):
        assert scores.min() >= 0 and scores.max() <= 1
    assert frcnn[0] > 0.6 and sdp[0] > 0.6


def test_deterministic_rerun_skips_refuses_or_overwrites(mot_root, tmp_path, tree_digest, capsys):
    """The command with the fixture's arguments writes the same bytes; re-runs skip, other
    arguments are refused without --overwrite; no temporary folder is left."""
    out = str(tmp_path / "MOT17")
    code = "import os; print(os.getpid())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    dead = run.stdout.strip()
    os.makedirs(os.path.join(out, f".synthetic.tmp-{dead}", "train"))  # a killed run's leftover
    argv = ["mot17", "--out", out, "--num-seqs", "3", "--num-test-seqs", "1",
            "--seed", str(SEED), "--frames", str(FRAMES), "--image-scale", str(SCALE)]  # fmt: skip
    assert make_synthetic(argv) == 0
    assert tree_digest(out) == tree_digest(mot_root)
    assert make_synthetic(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
    other = [*argv[:-6], "--seed", "4", "--frames", str(FRAMES), "--image-scale", str(SCALE)]
    assert make_synthetic(other) == 1
    assert "pass overwrite=True / --overwrite" in capsys.readouterr().err
    assert tree_digest(out) == tree_digest(mot_root)
    assert make_synthetic([*other, "--overwrite"]) == 0
    changed = tree_digest(out)
    gt_path = os.path.join("train", "MOT17-02-FRCNN", "gt", "gt.txt")
    assert changed[gt_path] != tree_digest(mot_root)[gt_path]
    assert sorted(os.listdir(out)) == ["README_synthetic.txt", "test", "train"]


def test_half_split_of_the_synthetic_set(mot_root, tmp_path):
    results = make_half_split(mot_root, tmp_path / "split_data")
    assert [r.name for r in results] == ["MOT17-02-FRCNN", "MOT17-04-FRCNN", "MOT17-05-FRCNN"]
    assert all(r.frames == {"train": 9, "test": 7} for r in results)
    gt_all = read_gt(os.path.join(mot_root, "train", "MOT17-05-FRCNN", "gt", "gt.txt"))
    val = read_gt(tmp_path / "split_data" / "test" / "MOT17-05-FRCNN" / "gt" / "gt.txt")
    assert len(val) == int(np.sum(gt_all.frames >= 10)) and val.frames.min() == 1
    det = read_det(tmp_path / "split_data" / "train" / "MOT17-05-FRCNN" / "det" / "det.txt")
    assert det.frames.max() <= 9
