"""Side by side: the MOT evaluator (``hat.metrics.mot``) vs motmetrics 1.4.0 vs TrackEval 1.3.0.

    python3 benchmarks/compare_mot_eval.py [--markdown]

Writes the cases of ``tests/metrics/mot_references.py`` as MOTChallenge folders in a temporary
directory and evaluates them with all three: "distractors" (tracks on static persons,
reflections and persons on vehicles removed; tracks on a non-considered pedestrian and a car
counted as false positives), "id_switch" (two tracks exchange objects, a third changes id),
"fragmentation" (an object missed twice) and "random" (OVERALL of four random scenes with
misses, jitter, id switches, false positives and distractors). Values with 6 decimals;
"-" where a reference does not compute that value. MOTP is motmetrics' mean ``1 - IoU``;
TrackEval's MOTP (mean IoU) is compared with our ``motp_iou``. Needs motmetrics and
trackeval (requirements-dev.txt, requirements-dev-nodeps.txt).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "metrics"))

from mot_references import (  # noqa: E402
    CASES,
    random_sequence,
    run_motmetrics,
    run_trackeval,
    write_case,
)

from hat.metrics.mot import OVERALL, evaluate_dirs  # noqa: E402

# (row label, our key, motmetrics key, TrackEval key)
ROWS = (
    ("MOTA", "mota", "mota", "MOTA"),
    ("MOTP (1-IoU)", "motp", "motp", None),
    ("MOTP (IoU)", "motp_iou", None, "MOTP"),
    ("IDF1", "idf1", "idf1", "IDF1"),
    ("IDP", "idp", "idp", "IDP"),
    ("IDR", "idr", "idr", "IDR"),
    ("FP", "num_false_positives", "num_false_positives", "CLR_FP"),
    ("FN", "num_misses", "num_misses", "CLR_FN"),
    ("IDSW", "num_switches", "num_switches", "IDSW"),
    ("Frag", "num_fragmentations", "num_fragmentations", "Frag"),
    ("MT", "mostly_tracked", "mostly_tracked", "MT"),
    ("PT", "partially_tracked", "partially_tracked", "PT"),
    ("ML", "mostly_lost", "mostly_lost", "ML"),
    ("HOTA", "HOTA", None, "HOTA"),
    ("DetA", "DetA", None, "DetA"),
    ("AssA", "AssA", None, "AssA"),
    ("LocA", "LocA", None, "LocA"),
)


def _evaluate(root: Path, sequences: dict, row: str) -> tuple[dict, dict, dict]:
    gt_dir, res_dir = write_case(root, sequences)
    names = sorted(sequences)
    ours, _ = evaluate_dirs(gt_dir, res_dir)
    mm = run_motmetrics(gt_dir, res_dir, names)
    te = run_trackeval(gt_dir, res_dir, names)
    return ours[row], mm[row], te[row]


def compare() -> list[tuple[str, str, float, float | None, float | None]]:
    """``(case, metric, ours, motmetrics, TrackEval)`` rows."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = {name: ({name: CASES[name]()}, name) for name in ("distractors", "id_switch",
                                                                   "fragmentation")}  # fmt: skip
        cases["random"] = ({f"RAND-{s:02d}": (30, *random_sequence(s)) for s in range(4)}, OVERALL)
        for case, (sequences, row) in cases.items():
            ours, mm, te = _evaluate(Path(tmp) / case, sequences, row)
            for label, key, mm_key, te_key in ROWS:
                out.append((
                    case, label, ours[key],
                    mm[mm_key] if mm_key else None,
                    te[te_key] if te_key else None,
                ))  # fmt: skip
    return out


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.6f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    rows = compare()
    header = ("case", "metric", "ours", "motmetrics", "TrackEval")
    cells = [header] + [(c, m, _cell(o), _cell(a), _cell(b)) for c, m, o, a, b in rows]
    if args.markdown:
        for i, r in enumerate(cells):
            print("| " + " | ".join(r) + " |")
            if i == 0:
                print("|" + "---|" * len(r))
    else:
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        for r in cells:
            print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                            enumerate(zip(r, widths))))  # fmt: skip
    worst = max(abs(o - ref) for _, _, o, a, b in rows for ref in (a, b) if ref is not None)
    print(f"largest difference to a reference: {worst:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
