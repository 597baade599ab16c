"""The reference MOT evaluators (motmetrics 1.4.0, TrackEval 1.3.0) run on MOTChallenge folders,
and the small cases the MOT evaluator tests and ``benchmarks/compare_mot_eval.py`` share.

Both references predate numpy 2: :func:`numpy2_shims` restores the aliases they use
(``np.float``, ``np.int``, ``np.bool``, ``np.asfarray``) in this process only; the evaluator
itself never needs them.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np


def numpy2_shims() -> None:
    """The numpy 1 names motmetrics/TrackEval use, removed in numpy 2."""
    for name, value in (("float", float), ("int", int), ("bool", bool), ("object", object)):
        if name not in np.__dict__:
            setattr(np, name, value)
    if "asfarray" not in np.__dict__:
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# case folders
# ---------------------------------------------------------------------------------------------

SEQINFO = (
    "[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={length}\n"
    "imWidth=1920\nimHeight=1080\nimExt=.jpg\n"
)


def gt_line(frame, tid, box, consider=1, cls=1, vis=1.0) -> str:
    x, y, w, h = box
    return f"{frame},{tid},{x},{y},{w},{h},{consider},{cls},{vis}\n"


def res_line(frame, tid, box, score=1.0) -> str:
    x, y, w, h = box
    return f"{frame},{tid},{x},{y},{w},{h},{score},-1,-1,-1\n"


def write_case(root: Path, sequences: dict[str, tuple[int, str, str]]) -> tuple[Path, Path]:
    """``root/gt/<seq>/{gt/gt.txt, seqinfo.ini}`` and ``root/res/<seq>.txt`` from
    ``{seq: (seqLength, gt text, result text)}``; returns ``(gt_dir, res_dir)``."""
    gt_dir, res_dir = root / "gt", root / "res"
    res_dir.mkdir(parents=True, exist_ok=True)
    for name, (length, gt_text, res_text) in sequences.items():
        (gt_dir / name / "gt").mkdir(parents=True, exist_ok=True)
        (gt_dir / name / "gt" / "gt.txt").write_text(gt_text)
        (gt_dir / name / "seqinfo.ini").write_text(SEQINFO.format(name=name, length=length))
        (res_dir / f"{name}.txt").write_text(res_text)
    return gt_dir, res_dir


def moved(box, dx=0.0, dy=0.0):
    return (box[0] + dx, box[1] + dy, box[2], box[3])


def random_sequence(seed: int, num_frames: int = 30, num_objects: int = 6) -> tuple[str, str]:
    """A random scene: walking pedestrians (some not considered, some of distractor classes)
    and a noisy tracker that misses, jitters, swaps ids and adds false positives."""
    rng = np.random.default_rng(seed)
    gt, res = [], []
    next_hyp = 100
    for tid in range(1, num_objects + 1):
        start = int(rng.integers(1, num_frames // 2))
        end = int(rng.integers(start + 3, num_frames + 1))
        x, y = rng.uniform(0, 1500), rng.uniform(0, 700)
        vx, vy = rng.uniform(-12, 12), rng.uniform(-4, 4)
        w, h = rng.uniform(40, 120), rng.uniform(100, 300)
        cls = int(rng.choice([1, 1, 1, 1, 2, 7, 8, 12]))
        consider = int(cls == 1 and rng.random() > 0.15)
        hyp = next_hyp
        next_hyp += 1
        for f in range(start, end + 1):
            box = (round(x + vx * f, 2), round(y + vy * f, 2), round(w, 2), round(h, 2))
            gt.append((f, tid, box, consider, cls))
            if rng.random() < 0.15:
                continue  # missed
            if rng.random() < 0.07:
                hyp = next_hyp  # identity switch
                next_hyp += 1
            j = rng.normal(0, 0.08, 4) * np.array([w, h, w, h])
            res.append(
                (
                    f,
                    hyp,
                    (
                        round(box[0] + j[0], 2),
                        round(box[1] + j[1], 2),
                        round(w + j[2], 2),
                        round(h + j[3], 2),
                    ),
                )
            )
    for f in range(1, num_frames + 1):
        if rng.random() < 0.3:
            res.append(
                (
                    f,
                    next_hyp,
                    (round(rng.uniform(0, 1800), 2), round(rng.uniform(0, 900), 2), 60.0, 150.0),
                )
            )
            next_hyp += 1
    gt.sort(key=lambda r: (r[1], r[0]))  # real gt.txt files: by id, then frame
    res.sort(key=lambda r: (r[0], r[1]))
    gt_text = "".join(gt_line(f, t, b, c, k) for f, t, b, c, k in gt)
    res_text = "".join(res_line(f, t, b) for f, t, b in res)
    return gt_text, res_text


def _box(x: float, frame: int = 0, speed: float = 5.0) -> tuple[float, float, float, float]:
    return (x + speed * frame, 100.0, 50.0, 120.0)


def _perfect() -> tuple[int, str, str]:
    gt = res = ""
    for tid, x in ((1, 100), (2, 400), (3, 700)):
        for f in range(1, 11):
            gt += gt_line(f, tid, _box(x, f))
            res += res_line(f, tid + 6, _box(x, f))
    return 10, gt, res


def _distractors() -> tuple[int, str, str]:
    """A tracked pedestrian; tracks on a static person, a reflection and a person on a vehicle
    (removed); on a non-considered pedestrian and a car (false positives, as in both
    references); the reflection's track outlives it (false positives)."""
    objects = [  # id, x, consider, class, frames, result id, result offset
        (1, 100, 1, 1, range(1, 11), 11, 3.0),
        (2, 400, 0, 7, range(1, 11), 12, 0.0),
        (3, 700, 0, 12, range(1, 6), 13, 2.0),
        (4, 1000, 0, 1, range(1, 11), 14, 0.0),
        (5, 1300, 0, 3, range(1, 11), 15, 1.0),
        (6, 1600, 0, 2, range(1, 11), 16, 8.0),
    ]
    gt = res = ""
    for tid, x, consider, cls, frames, hid, dx in objects:
        gt += "".join(gt_line(f, tid, _box(x, f), consider, cls) for f in frames)
        res += "".join(res_line(f, hid, moved(_box(x, f), dx)) for f in range(1, 11))
    return 10, gt, res


def _id_switch() -> tuple[int, str, str]:
    """Two tracks exchange their objects at frame 6; a third object's track changes id."""
    gt = res = ""
    for f in range(1, 11):
        for tid, x in ((1, 100), (2, 400), (3, 700)):
            gt += gt_line(f, tid, _box(x, f))
        a, b = (21, 22) if f <= 5 else (22, 21)
        res += res_line(f, a, moved(_box(100, f), 2))
        res += res_line(f, b, moved(_box(400, f), -3))
        res += res_line(f, 23 if f <= 4 else 24, _box(700, f))
    return 10, gt, res


def _fragmentation() -> tuple[int, str, str]:
    """Object 1 is missed at frames 4, 5 and 9 (2 fragmentations); object 2 always tracked."""
    gt = res = ""
    for f in range(1, 13):
        gt += gt_line(f, 1, _box(100, f)) + gt_line(f, 2, _box(500, f))
        if f not in (4, 5, 9):
            res += res_line(f, 31, moved(_box(100, f), 4))
        res += res_line(f, 32, _box(500, f))
    return 12, gt, res


def _empty_result() -> tuple[int, str, str]:
    gt = "".join(gt_line(f, t, _box(300 * t, f)) for t in (1, 2) for f in range(1, 9))
    return 8, gt, ""


def _zero_gt() -> tuple[int, str, str]:
    """Only a non-considered pedestrian and a static person: no box to find."""
    gt = "".join(gt_line(f, 1, _box(100, f), 0, 1) for f in range(1, 7))
    gt += "".join(gt_line(f, 2, _box(500, f), 0, 7) for f in range(1, 7))
    res = "".join(
        res_line(f, 41, _box(100, f)) + res_line(f, 42, _box(500, f)) + res_line(f, 43, _box(900))
        for f in range(1, 7)
    )
    return 6, gt, res


#: The designed cases: name -> () -> (seqLength, gt text, result text).
CASES = {
    "perfect": _perfect,
    "distractors": _distractors,
    "id_switch": _id_switch,
    "fragmentation": _fragmentation,
    "empty_result": _empty_result,
    "zero_gt": _zero_gt,
}


# ---------------------------------------------------------------------------------------------
# the references
# ---------------------------------------------------------------------------------------------

MOTMETRICS_NAMES = (
    "idf1", "idp", "idr", "recall", "precision", "num_unique_objects", "mostly_tracked",
    "partially_tracked", "mostly_lost", "num_false_positives", "num_misses", "num_switches",
    "num_fragmentations", "mota", "motp", "num_transfer", "num_ascend", "num_migrate",
    "num_frames", "num_objects", "num_predictions", "num_matches", "idtp", "idfp", "idfn",
)  # fmt: skip


def run_motmetrics(gt_dir: Path, res_dir: Path, seqs: list[str]) -> dict[str, dict[str, float]]:
    """motmetrics' ``evaluateTracking`` path (``CLEAR_MOT_M``: preprocessing with seqinfo.ini,
    considered pedestrians only): ``{seq: {name: value}, "OVERALL": ...}``."""
    numpy2_shims()
    import motmetrics as mm

    accs = []
    for s in seqs:
        gt = mm.io.loadtxt(str(gt_dir / s / "gt" / "gt.txt"), fmt="mot16")
        ts = mm.io.loadtxt(str(res_dir / f"{s}.txt"), fmt="mot16")
        acc, _ = mm.utils.CLEAR_MOT_M(gt, ts, str(gt_dir / s / "seqinfo.ini"), "iou", distth=0.5)
        accs.append(acc)
    mh = mm.metrics.create()
    summary = mh.compute_many(
        accs, names=list(seqs), metrics=list(MOTMETRICS_NAMES), generate_overall=True
    )
    return {str(k): {m: float(summary.loc[k, m]) for m in MOTMETRICS_NAMES} for k in summary.index}


def run_trackeval(
    gt_dir: Path, res_dir: Path, seqs: list[str], benchmark: str = "MOT17"
) -> dict[str, dict[str, float]]:
    """TrackEval's ``MotChallenge2DBox`` dataset (its file loading and preprocessing) and its
    HOTA, CLEAR and Identity metrics, per sequence and ``COMBINED_SEQ`` as ``"OVERALL"``;
    HOTA fields are means over the 19 thresholds, as TrackEval prints them."""
    numpy2_shims()
    with contextlib.redirect_stdout(io.StringIO()):  # import/config chatter
        import trackeval

        tracker_root = Path(str(res_dir) + "_trackeval")
        data = tracker_root / "tracker" / "data"
        data.mkdir(parents=True, exist_ok=True)
        for s in seqs:
            target = data / f"{s}.txt"
            if not target.exists():
                os.symlink(os.path.abspath(res_dir / f"{s}.txt"), target)
        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(gt_dir),
                "TRACKERS_FOLDER": str(tracker_root),
                "TRACKERS_TO_EVAL": ["tracker"],
                "SEQ_INFO": {s: None for s in seqs},
                "SKIP_SPLIT_FOL": True,
                "BENCHMARK": benchmark,
                "PRINT_CONFIG": False,
            }
        )
        metrics = [
            trackeval.metrics.HOTA(),
            trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
            trackeval.metrics.Identity({"PRINT_CONFIG": False}),
        ]
        per_seq = {}
        for s in seqs:
            raw = dataset.get_raw_seq_data("tracker", s)
            data_s = dataset.get_preprocessed_seq_data(raw, "pedestrian")
            per_seq[s] = [m.eval_sequence(data_s) for m in metrics]
        combined = [
            m.combine_sequences({s: per_seq[s][i] for s in seqs}) for i, m in enumerate(metrics)
        ]
    out = {}
    for name, results in [*per_seq.items(), ("OVERALL", combined)]:
        row = {}
        for r in results:
            for k, v in r.items():
                row[k] = float(np.mean(v))
        out[name] = row
    return out
