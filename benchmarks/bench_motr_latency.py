"""MOTR deployment latency per frame: the base model and the query interaction module (the two
deployed graphs), each on ORT int8 (our QDQ export) vs ORT fp32 vs torch eager fp32, and their
sum: what one tracked frame costs (the host code between them is not timed).

    python benchmarks/bench_motr_latency.py [--config CFG] [--qim-config CFG_QIM]
        [--threads 1] [--rounds 3] [--seconds 3] [--float-ckpt CKPT] [--json out.json]

Both graphs are measured as ``bench_deploy_latency.py`` measures one model (exports, a short
calibration on random inputs, each configuration in its own process, round-robin; medians of
all runs of one invocation): the base graph at the config's deploy inputs (``img``,
``query_pos``, ``mask_query``, ``ref_pts``: random, so about half the track slots are valid),
the QIM graph at the ``--qim-config``'s (``query_pos``, ``output_embedding``, ``mask_query`` on
the track slots). Per frame = base + QIM, per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_deploy_latency as bdl  # noqa: E402

DEMO = "configs/track_pred/motr_efficientnetb3_mot17_demo.py"
DEMO_QIM = "configs/track_pred/motr_efficientnetb3_mot17_demo_qim.py"


def measure_graph(config_path: str, args: argparse.Namespace, tmp: str) -> dict:
    """One deployed graph's row (``bench_deploy_latency``'s prepare + measure)."""
    from hat.utils.run_config import RunConfig

    config = RunConfig.load(config_path)
    sub = os.path.join(tmp, os.path.basename(config_path).removesuffix(".py"))
    os.makedirs(sub, exist_ok=True)
    info = bdl.prepare(config, None, args.float_ckpt, sub)
    ns = argparse.Namespace(
        config=config_path, rounds=args.rounds, seconds=args.seconds, threads=args.threads,
        float_ckpt=args.float_ckpt, inputs=None,
    )  # fmt: skip
    return bdl.measure(ns, "deploy", info)


def per_frame(base: dict, qim: dict) -> dict:
    """Base + QIM medians per configuration and the ratios of the sums."""
    med = {k: base["median_ms"][k] + qim["median_ms"][k] for k in bdl.KINDS}
    return {
        "median_ms": med,
        "int8_over_ort_fp32": med["ort_int8"] / med["ort_fp32"],
        "int8_over_torch_fp32": med["ort_int8"] / med["torch_fp32"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", default=DEMO)
    ap.add_argument("--qim-config", default=DEMO_QIM)
    ap.add_argument("--float-ckpt", default=None, help="weights (random when omitted)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            "base": measure_graph(args.config, args, tmp),
            "qim": measure_graph(args.qim_config, args, tmp),
        }
    frame = per_frame(rows["base"], rows["qim"])
    load = os.getloadavg()[0]
    print(f"MOTR {args.config} + {args.qim_config}, threads {args.threads}, ORT level all")
    for name, r in rows.items():
        print(f"{name}: inputs {r['inputs']}, {r['gmac']:.3f} GMAC, int model == ORT on "
              f"{100 * r['int_vs_ort_identical']:.3f} % of the outputs")  # fmt: skip
        for k in bdl.KINDS:
            print(f"  {k:11s} median {r['median_ms'][k]:9.2f} ms  ({r['runs'][k]} runs)")
    print("per frame (base + qim):")
    for k in bdl.KINDS:
        print(f"  {k:11s} {frame['median_ms'][k]:9.2f} ms")
    print(f"  int8_ort / fp32_ort   = {frame['int8_over_ort_fp32']:.3f}")
    print(f"  int8_ort / torch_fp32 = {frame['int8_over_torch_fp32']:.3f}")
    print(f"medians of {args.rounds} rounds x {args.seconds} s; 1-min load average {load:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"graphs": rows, "per_frame": frame, "threads": args.threads,
                       "load_avg": load}, f, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
