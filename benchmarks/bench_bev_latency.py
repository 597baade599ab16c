"""BEV IPM multitask deploy latency: ORT int8 (our QDQ export) vs ORT fp32 vs torch eager fp32 at
the config's deploy inputs ``img (6, 3, H, W)`` + ``points (6, Hb, Wb, 2)``, for each thread count,
and the share of the time spent in the view transform (IPM sampling + upsampling).

    python benchmarks/bench_bev_latency.py [--config CFG] [--threads 1,2] [--rounds 1]
        [--seconds 1] [--json out.json]

The sampling points are those of a nuScenes camera rig (``rig_points``: the six cameras' mounting
and intrinsics of the synthetic nuScenes rig, resized and bottom-cropped to the view size as the
validation transforms do, projected by ``ipm_points``), so the sampling reads the feature maps
where a real batch would (the share of points inside their view and of BEV cells seen by some
view are printed); the images are random.
Exports, calibration and the three-way timing are ``bench_deploy_latency.py``'s (its
``--inputs`` file carries the points); each configuration runs in its own process.

View-transform share, measured in separate processes after the timing, on the same inputs:

* torch fp32: a forward pre-hook and hook on ``model.view_transformer`` read ``perf_counter``
  inside every full forward; share = median over runs of (view transform time / forward time).
* ORT int8 and ORT fp32: ORT's per-node profiling (``enable_profiling``, the same session options
  as the timing: level all, inter-op 1). A node belongs to the view transform when its name
  starts with ``view_transformer`` (the integer export names nodes by module) or its
  ``namespace`` metadata names that module (the float export). Share = median over runs of
  (sum of those nodes' kernel times / the run's ``model_run`` time). Profiling adds a few
  microseconds per node to the runs (about 1,700 nodes in the int8 graph). The op types with
  the most kernel time per run are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_deploy_latency as bdl  # noqa: E402

from hat.models.view_transformers.ipm_points import OUTSIDE  # noqa: E402

RECIPE = "configs/bev/bev_ipm_efficientnetb0_multitask_nuscenes.py"
VT = "view_transformer"
SHARE_KINDS = ("torch_fp32", "ort_int8", "ort_fp32")
PARTS = ("sample", "upsample")  # the view transform's submodules (IPM sampling, upsampling)


def rig_points(config) -> np.ndarray:
    """``(V, Hb, Wb, 2)`` float32 sampling points of the synthetic nuScenes camera rig for the
    config's ``data_shape`` (views resized so they cover it, bottom rows and centre columns
    kept, as ``BevImgResize`` + ``BevImgCrop``), ``bev_size`` and ``feat_stride``."""
    from hat.data.readers.nuscenes_constants import NUSCENES_CAMERAS
    from hat.data.synthetic.nuscenes_sensors import FULL_SIZE, rig_calibrations
    from hat.data.transforms.bev_img_resize import resize_matrix
    from hat.models.view_transformers.ipm_points import ipm_points

    _, h, w = (int(v) for v in config.require("data_shape", "(C, H, W) of one view"))
    stride = int(config.require("feat_stride", "the sampled feature's stride"))
    bev_size = config.require("bev_size", "(x_range_m, y_range_m, res_m)")
    views = int(config.get("num_views", 6))
    if views != len(NUSCENES_CAMERAS):
        raise ValueError(
            f"rig_points: the rig has {len(NUSCENES_CAMERAS)} cameras, num_views={views}"
        )
    full_w, full_h = FULL_SIZE
    scale = max(h / full_h, w / full_w)
    rh, rw = max(h, int(full_h * scale)), max(w, int(full_w * scale))
    crop = np.array([[1.0, 0.0, -((rw - w) // 2)], [0.0, 1.0, -(rh - h)], [0.0, 0.0, 1.0]])
    aug = crop @ resize_matrix((full_h, full_w), (rh, rw))
    cal = rig_calibrations(np.random.default_rng(0))
    k, s2e = [], []
    for cam in NUSCENES_CAMERAS:
        c = cal[cam]
        k.append(c.intrinsic)
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = c.rotation, c.translation
        s2e.append(m)
    pts = ipm_points(
        torch.tensor(np.stack(k))[None],
        torch.tensor(np.stack(s2e))[None],
        torch.tensor(aug).expand(1, views, 3, 3),
        None,
        bev_size,
        (-(-h // stride), -(-w // stride)),
        stride,
    )
    return pts[0].float().numpy()


def _median_runs(fn, seconds: float) -> list:
    fn()  # warm-up
    out, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(out) < 3:
        out.append(fn())
    return out


def _torch_share(args: argparse.Namespace) -> dict:
    """Per run: seconds in the view transform and its parts, and of the whole forward."""
    from hat.utils.run_config import RunConfig

    torch.set_num_threads(args.threads)
    config = RunConfig.load(args.config)
    feeds = bdl._inputs(config, None, fixed=args.inputs)
    model = bdl._float_model(config, None)
    vt = getattr(model, VT)
    mods = {"vt": vt, **{p: getattr(vt, p) for p in PARTS if getattr(vt, p, None) is not None}}
    mark: dict[str, float] = {}

    def hooks(key: str, m: torch.nn.Module) -> None:
        m.register_forward_pre_hook(lambda *_: mark.__setitem__(key + "<", time.perf_counter()))
        m.register_forward_hook(lambda *_: mark.__setitem__(key + ">", time.perf_counter()))

    for key, m in mods.items():
        hooks(key, m)

    def run() -> dict[str, float]:
        t = time.perf_counter()
        with torch.no_grad():
            model(dict(feeds))
        out = {k: mark[k + ">"] - mark[k + "<"] for k in mods}
        return {**out, "run": time.perf_counter() - t}

    return {"runs": _median_runs(run, args.seconds)}


def _vt_nodes(path: str) -> dict[str, str]:
    """Node name -> view-transform part (``sample``, ``upsample``) of an exported graph: by the
    node name's module prefix (integer export) or the ``namespace`` metadata (float export)."""
    import onnx

    parts = {}
    for n in onnx.load(path, load_external_data=False).graph.node:
        scope = " ".join(p.value for p in n.metadata_props if p.key == "namespace")
        found = re.search(rf"(?:^|[ /.]){VT}\.(\w+)", f"{n.name} {scope}")
        if found or n.name.startswith(VT) or f"{VT}:" in scope:
            parts[n.name] = found.group(1) if found else "other"
    return parts


def _ort_share(args: argparse.Namespace) -> dict:
    """Per run (from ORT's profile): kernel seconds of the view-transform nodes by part, and the
    run's ``model_run`` time."""
    import onnxruntime as ort

    from hat.utils.run_config import RunConfig

    config = RunConfig.load(args.config)
    feeds = {k: v.numpy() for k, v in bdl._inputs(config, None, fixed=args.inputs).items()}
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(os.path.dirname(args.path), f"profile_{args.threads}")
    sess = ort.InferenceSession(args.path, so, providers=["CPUExecutionProvider"])
    end, n = time.perf_counter() + args.seconds, 0
    while time.perf_counter() < end or n < 4:
        sess.run(None, feeds)
        n += 1
    with open(sess.end_profiling(), encoding="utf-8") as f:
        events = json.load(f)
    os.remove(f.name)
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("name") == "model_run")
    spans = spans[1:]  # the first run is a warm-up
    runs = [{"vt": 0.0, **dict.fromkeys(PARTS, 0.0), "run": (b - a) * 1e-6} for a, b in spans]
    parts, seen = _vt_nodes(args.path), set()
    ops: dict[str, float] = {}
    for e in events:
        name = e.get("name", "")
        if e.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        node, op = name[: -len("_kernel_time")], e.get("args", {}).get("op_name", "?")
        if spans and e["ts"] >= spans[0][0]:
            ops[op] = ops.get(op, 0.0) + e["dur"] * 1e-6 / len(spans)
        part = parts.get(node) or (node[len(VT) + 1 :].split("/")[0] if node.startswith(VT) else "")
        if not part:
            continue
        seen.add(node)
        for r, (a, b) in zip(runs, spans):
            if a <= e["ts"] <= b:
                r["vt"] += e["dur"] * 1e-6
                r[part] = r.get(part, 0.0) + e["dur"] * 1e-6
    if not seen:
        raise RuntimeError(f"no view-transform node in the ORT profile of {args.path}")
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:6]
    return {"runs": runs, "vt_nodes": len(seen), "op_types": dict(top)}


def worker(args: argparse.Namespace) -> dict:
    """One view-transform share measurement (``--worker``) in this process."""
    return _torch_share(args) if args.worker == "torch_fp32" else _ort_share(args)


def share(args: argparse.Namespace, kind: str, path: str) -> dict:
    """View-transform time (and its parts') and share of ``kind``, medians over runs, measured
    in its own process."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--path", path,
           "--config", args.config, "--inputs", args.inputs, "--threads", str(args.threads),
           "--seconds", str(args.seconds)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    runs = res["runs"]
    med = {k: 1e3 * statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]}
    return {
        "vt_ms": med.pop("vt"),
        "run_ms": med.pop("run"),
        "parts_ms": med,
        "share": statistics.median(r["vt"] / r["run"] for r in runs),
        "runs": len(runs),
        **{k: res[k] for k in ("vt_nodes", "op_types") if k in res},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", default=RECIPE)
    ap.add_argument("--threads", default="1,2", help="intra-op thread counts, e.g. 1,2")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--worker", default=None, choices=SHARE_KINDS)
    ap.add_argument("--path", default="")
    ap.add_argument("--inputs", default="")
    args = ap.parse_args(argv)
    if args.worker:
        args.threads = int(args.threads)
        print(json.dumps(worker(args)))
        return
    from hat.utils.run_config import RunConfig

    start, load_start = time.perf_counter(), os.getloadavg()[0]
    config = RunConfig.load(args.config)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        args.inputs = os.path.join(tmp, "inputs.npz")
        pts = rig_points(config)
        np.savez(args.inputs, points=pts)
        info = bdl.prepare(config, None, None, tmp, args.inputs)
        prepared = time.perf_counter() - start
        for threads in (int(t) for t in args.threads.split(",")):
            sub = argparse.Namespace(**vars(args), float_ckpt=None)
            sub.threads = threads
            row = bdl.measure(sub, "deploy", info)
            row["threads"] = threads
            paths = {"torch_fp32": "", "ort_int8": info["int8"], "ort_fp32": info["fp32"]}
            row["view_transform"] = {k: share(sub, k, paths[k]) for k in SHARE_KINDS}
            rows.append(row)
    seen = np.any(pts != OUTSIDE, axis=-1)  # (V, Hb, Wb)
    inside = (float(seen.mean()), float(seen.any(axis=0).mean()))
    load = os.getloadavg()[0]
    print(f"config {args.config}; CPU: {_cpu_name()}; ORT level all")
    print(
        f"inputs {rows[0]['inputs']}: {rows[0]['gmac']:.2f} GMAC; rig points inside their "
        f"view: {100 * inside[0]:.1f} %, BEV cells seen by a view: {100 * inside[1]:.1f} %"
    )
    print(f"int model == ORT on {100 * rows[0]['int_vs_ort_identical']:.3f} % of the outputs")
    print(f"ORT int8 graph {rows[0]['ort_int8_graph']}")
    for r in rows:
        med, vts = r["median_ms"], r["view_transform"]
        print(f"threads {r['threads']}:")
        for k in bdl.KINDS:
            v = vts[k]
            parts = ", ".join(f"{p} {t:.2f}" for p, t in v["parts_ms"].items())
            print(f"  {k:11s} median {med[k]:9.2f} ms ({r['runs'][k]} runs); view transform "
                  f"{v['vt_ms']:8.2f} ms ({parts}) = {100 * v['share']:5.1f} % of "
                  f"{v['run_ms']:.2f} ms ({v['runs']} runs)")  # fmt: skip
            if "op_types" in v:
                top = ", ".join(f"{op} {1e3 * t:.1f}" for op, t in v["op_types"].items())
                print(f"      slowest op types (ms per profiled run): {top}")
        print(f"  int8_ort / fp32_ort   = {r['int8_over_ort_fp32']:.3f}")
        print(f"  int8_ort / torch_fp32 = {r['int8_over_torch_fp32']:.3f}")
    took = time.perf_counter() - start
    print(f"medians of {args.rounds} rounds x {args.seconds} s per configuration; 1-min load "
          f"average {load_start:.1f} at the start, {load:.1f} at the end; {took:.0f} s in all "
          f"({prepared:.0f} s exports and calibration)")  # fmt: skip
    if args.json:
        res = {"config": args.config, "cpu": _cpu_name(), "load_avg": [load_start, load]}
        res["rows"] = rows
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=2)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


if __name__ == "__main__":
    main()
