"""A tiny nuScenes dataroot in the real layout (13 tables, map PNGs, LIDAR_TOP key frames) and
prediction sets for comparing the detection evaluator with nuscenes-devkit.

Three scenes of ``v1.0-mini`` (two of ``mini_val``, one of ``mini_train`` that the evaluation
must leave out), four key frames each at 2 Hz. Objects of every detection class but
``construction_vehicle`` (a class without ground truth), some beyond their class range, some
without lidar/radar points, bicycles parked in a bike rack, an annotation without attribute,
an instance seen once (unknown velocity) and a non-detection category.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pyquaternion import Quaternion

from hat.data.readers.nuscenes_constants import DETECTION_CLASSES
from hat.metrics.nuscenes.config import TP_METRICS
from hat.metrics.nuscenes.metric import default_attributes

VERSION = "v1.0-mini"
SCENES = {"scene-0103": "mini_val", "scene-0916": "mini_val", "scene-0061": "mini_train"}
NUM_SAMPLES = 4
STEP_US = 500_000

# category -> (size w, l, h, attributes it may have, speed range m/s)
CATEGORIES = {
    "vehicle.car": ((1.9, 4.6, 1.7), ("vehicle.moving", "vehicle.parked", "vehicle.stopped"), 8),
    "vehicle.truck": ((2.5, 7.0, 3.0), ("vehicle.moving", "vehicle.parked"), 6),
    "vehicle.bus.rigid": ((2.9, 11.0, 3.5), ("vehicle.moving", "vehicle.stopped"), 6),
    "vehicle.trailer": ((2.4, 10.0, 3.8), ("vehicle.parked",), 0),
    "human.pedestrian.adult": ((0.7, 0.7, 1.8), ("pedestrian.moving", "pedestrian.standing"), 1.5),
    "vehicle.motorcycle": ((0.8, 2.1, 1.5), ("cycle.with_rider", "cycle.without_rider"), 5),
    "vehicle.bicycle": ((0.6, 1.8, 1.3), ("cycle.with_rider", "cycle.without_rider"), 3),
    "movable_object.trafficcone": ((0.4, 0.4, 1.0), (), 0),
    "movable_object.barrier": ((2.5, 0.5, 1.0), (), 0),
    "static_object.bicycle_rack": ((2.0, 6.0, 1.2), (), 0),
    "animal": ((0.5, 0.9, 0.6), (), 1),
}
ATTRIBUTES = (
    "vehicle.moving",
    "vehicle.parked",
    "vehicle.stopped",
    "pedestrian.moving",
    "pedestrian.standing",
    "pedestrian.sitting_lying_down",
    "cycle.with_rider",
    "cycle.without_rider",
)
DEVKIT_NAME = {
    "vehicle.car": "car",
    "vehicle.truck": "truck",
    "vehicle.bus.rigid": "bus",
    "vehicle.trailer": "trailer",
    "human.pedestrian.adult": "pedestrian",
    "vehicle.motorcycle": "motorcycle",
    "vehicle.bicycle": "bicycle",
    "movable_object.trafficcone": "traffic_cone",
    "movable_object.barrier": "barrier",
}


def token(*parts: Any) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def _yaw_quat(yaw: float) -> list[float]:
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


@dataclass
class Dataroot:
    root: Path
    eval_tokens: list[str]  # mini_val samples in sample.json order
    ego_pose: dict[str, dict[str, Any]] = field(default_factory=dict)  # LIDAR_TOP pose per sample
    anns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per sample (all)


def _objects(rng: np.random.Generator, scene: str) -> list[dict[str, Any]]:
    """Instances of one scene: category, start position (ego frame of the first sample),
    heading, velocity, which samples they appear in."""
    objs = []
    plan = (
        ["vehicle.car"] * 7
        + ["vehicle.truck"] * 2
        + ["vehicle.bus.rigid", "vehicle.trailer"]
        + ["human.pedestrian.adult"] * 5
        + ["vehicle.motorcycle"] * 2
        + ["vehicle.bicycle"] * 2
        + ["movable_object.trafficcone"] * 4
        + ["movable_object.barrier"] * 4
        + ["animal"]
    )
    for k, cat in enumerate(plan):
        size, attrs, vmax = CATEGORIES[cat]
        r = rng.uniform(3, 62)  # some beyond the class ranges (30/40/50 m)
        a = rng.uniform(-np.pi, np.pi)
        speed = rng.uniform(0, vmax) if vmax and rng.random() < 0.6 else 0.0
        heading = rng.uniform(-np.pi, np.pi)
        objs.append(
            {
                "cat": cat,
                "pos": np.array([r * math.cos(a), r * math.sin(a), rng.uniform(0.5, 1.5)]),
                "yaw": heading,
                "vel": speed * np.array([math.cos(heading), math.sin(heading)]),
                "size": [s * rng.uniform(0.9, 1.1) for s in size],
                "attr": attrs[int(rng.integers(len(attrs)))] if attrs else "",
                "frames": list(range(NUM_SAMPLES)),
                "name": f"{scene}-{k}",
            }
        )
    objs[0]["attr"] = ""  # a car annotated without attribute
    objs[1]["frames"] = [2]  # seen once: velocity unknown (NaN)
    # A bike rack with two parked bicycles in it, near the ego.
    rack_pos = np.array([8.0, -6.0, 0.6])
    objs.append(
        {
            "cat": "static_object.bicycle_rack",
            "pos": rack_pos,
            "yaw": 0.3,
            "vel": np.zeros(2),
            "size": [2.0, 6.0, 1.2],
            "attr": "",
            "frames": list(range(NUM_SAMPLES)),
            "name": f"{scene}-rack",
        }
    )
    for j, dx in enumerate((-1.5, 1.5)):
        p = rack_pos + np.array([dx * math.cos(0.3), dx * math.sin(0.3), 0.0])
        objs.append(
            {
                "cat": "vehicle.bicycle",
                "pos": p,
                "yaw": 0.3 + np.pi / 2,
                "vel": np.zeros(2),
                "size": [0.6, 1.8, 1.1],
                "attr": "cycle.without_rider",
                "frames": list(range(NUM_SAMPLES)),
                "name": f"{scene}-rackbike{j}",
            }
        )
    return objs


def build_dataroot(root: Path, seed: int = 0) -> Dataroot:
    """Write the dataroot under ``root`` and describe its mini_val samples."""
    rng = np.random.default_rng(seed)
    t: dict[str, list[dict[str, Any]]] = {
        n: []
        for n in (
            "category",
            "attribute",
            "visibility",
            "instance",
            "sensor",
            "calibrated_sensor",
            "ego_pose",
            "log",
            "scene",
            "sample",
            "sample_data",
            "sample_annotation",
            "map",
        )
    }
    for i, cat in enumerate(CATEGORIES):
        t["category"].append(
            {"token": token("cat", cat), "name": cat, "description": cat, "index": i}
        )
    for a in ATTRIBUTES:
        t["attribute"].append({"token": token("attr", a), "name": a, "description": a})
    for v in range(1, 5):
        t["visibility"].append({"token": str(v), "level": f"v{v}", "description": ""})
    for ch, mod in (("LIDAR_TOP", "lidar"), ("CAM_FRONT", "camera")):
        t["sensor"].append({"token": token("sensor", ch), "channel": ch, "modality": mod})
    (root / "maps").mkdir(parents=True)
    map_logs: dict[str, list[str]] = {"singapore-onenorth": [], "boston-seaport": []}
    out = Dataroot(root, [])
    ts0 = 1_533_000_000_000_000
    for si, (scene, split) in enumerate(SCENES.items()):
        location = "boston-seaport" if si == 1 else "singapore-onenorth"
        log_tok = token("log", scene)
        map_logs[location].append(log_tok)
        t["log"].append(
            {
                "token": log_tok,
                "logfile": f"n008-{scene}",
                "vehicle": "n008",
                "date_captured": "2018-08-01",
                "location": location,
            }
        )
        cs = {}
        for ch in ("LIDAR_TOP", "CAM_FRONT"):
            cs[ch] = token("cs", scene, ch)
            t["calibrated_sensor"].append(
                {
                    "token": cs[ch],
                    "sensor_token": token("sensor", ch),
                    "translation": [0.94, 0.0, 1.84],
                    "rotation": [1.0, 0.0, 0.0, 0.0],
                    "camera_intrinsic": [[1266.4, 0, 816.3], [0, 1266.4, 491.5], [0, 0, 1]]
                    if ch == "CAM_FRONT"
                    else [],
                }
            )
        objs = _objects(rng, scene)
        ego0 = np.array([rng.uniform(-500, 500), rng.uniform(-500, 500), 0.0])
        ego_yaw0 = rng.uniform(-np.pi, np.pi)
        ego_speed = rng.uniform(2, 8)
        samples = [token("sample", scene, k) for k in range(NUM_SAMPLES)]
        inst_anns: dict[str, list[str]] = {}
        for k, s_tok in enumerate(samples):
            ts = ts0 + si * 100 * STEP_US + k * STEP_US
            yaw = ego_yaw0 + 0.05 * k
            ego_t = ego0 + ego_speed * 0.5 * k * np.array(
                [math.cos(ego_yaw0), math.sin(ego_yaw0), 0]
            )
            # A slightly pitched and rolled ego pose, as real ones are.
            q = Quaternion(axis=[0, 0, 1], angle=yaw) * Quaternion(axis=[1, 0.3, 0], angle=0.02)
            pose = {
                "token": token("pose", scene, k),
                "timestamp": ts,
                "translation": ego_t.tolist(),
                "rotation": list(q.elements),
            }
            t["ego_pose"].append(pose)
            t["sample"].append(
                {
                    "token": s_tok,
                    "timestamp": ts,
                    "scene_token": token("scene", scene),
                    "prev": samples[k - 1] if k else "",
                    "next": samples[k + 1] if k + 1 < NUM_SAMPLES else "",
                }
            )
            for ch in ("LIDAR_TOP", "CAM_FRONT"):
                ext = ".pcd.bin" if ch == "LIDAR_TOP" else ".jpg"
                fn = f"samples/{ch}/n008-{scene}__{ch}__{ts}{ext}"
                t["sample_data"].append(
                    {
                        "token": token("sd", scene, ch, k),
                        "sample_token": s_tok,
                        "ego_pose_token": pose["token"],
                        "calibrated_sensor_token": cs[ch],
                        "timestamp": ts,
                        "fileformat": ext.rsplit(".", 1)[-1],
                        "is_key_frame": True,
                        "height": 900 if ch == "CAM_FRONT" else 0,
                        "width": 1600 if ch == "CAM_FRONT" else 0,
                        "filename": fn,
                        "prev": token("sd", scene, ch, k - 1) if k else "",
                        "next": token("sd", scene, ch, k + 1) if k + 1 < NUM_SAMPLES else "",
                    }
                )
                if ch == "LIDAR_TOP":
                    (root / fn).parent.mkdir(parents=True, exist_ok=True)
                    np.zeros((4, 5), np.float32).tofile(root / fn)
            if split == "mini_val":
                out.eval_tokens.append(s_tok)
                out.ego_pose[s_tok] = pose
                out.anns[s_tok] = []
            r0 = Quaternion(axis=[0, 0, 1], angle=ego_yaw0).rotation_matrix
            for o in objs:
                if k not in o["frames"]:
                    continue
                centre = ego0 + r0 @ (o["pos"] + np.r_[o["vel"], 0.0] * 0.5 * k)
                gyaw = ego_yaw0 + o["yaw"]
                n_lidar = int(rng.integers(0, 40)) if rng.random() > 0.15 else 0
                n_radar = int(rng.integers(0, 3)) if n_lidar == 0 and rng.random() < 0.3 else 0
                inst = token("inst", o["name"])
                a_tok = token("ann", o["name"], k)
                ann = {
                    "token": a_tok,
                    "sample_token": s_tok,
                    "instance_token": inst,
                    "visibility_token": str(int(rng.integers(1, 5))),
                    "attribute_tokens": [token("attr", o["attr"])] if o["attr"] else [],
                    "translation": centre.tolist(),
                    "size": list(o["size"]),
                    "rotation": _yaw_quat(gyaw),
                    "num_lidar_pts": n_lidar,
                    "num_radar_pts": n_radar,
                    "prev": "",
                    "next": "",
                }
                inst_anns.setdefault(inst, []).append(a_tok)
                t["sample_annotation"].append(ann)
                if split == "mini_val":
                    out.anns[s_tok].append(dict(ann, category_name=o["cat"]))
            for o in objs:
                inst = token("inst", o["name"])
                if not any(r["token"] == inst for r in t["instance"]):
                    t["instance"].append(
                        {
                            "token": inst,
                            "category_token": token("cat", o["cat"]),
                            "nbr_annotations": len(o["frames"]),
                            "first_annotation_token": token("ann", o["name"], o["frames"][0]),
                            "last_annotation_token": token("ann", o["name"], o["frames"][-1]),
                        }
                    )
        by_token = {a["token"]: a for a in t["sample_annotation"]}
        for chain in inst_anns.values():
            for a, b in zip(chain, chain[1:]):
                by_token[a]["next"], by_token[b]["prev"] = b, a
        for s in out.anns.values():
            for a in s:
                a["prev"], a["next"] = by_token[a["token"]]["prev"], by_token[a["token"]]["next"]
        t["scene"].append(
            {
                "token": token("scene", scene),
                "log_token": log_tok,
                "name": scene,
                "description": "",
                "nbr_samples": NUM_SAMPLES,
                "first_sample_token": samples[0],
                "last_sample_token": samples[-1],
            }
        )
    for location, logs in map_logs.items():
        fn = f"maps/{token('map', location)}.png"
        cv2.imwrite(str(root / fn), np.zeros((20, 20), np.uint8))
        t["map"].append(
            {
                "token": token("map", location),
                "log_tokens": logs,
                "category": "semantic_prior",
                "filename": fn,
            }
        )
    (root / VERSION).mkdir()
    for name, rows in t.items():
        (root / VERSION / f"{name}.json").write_text(json.dumps(rows))
    return out


# ---------------------------------------------------------------- predictions (ego frame)


def _pose(pose: dict[str, Any]) -> tuple[np.ndarray, Quaternion]:
    return np.array(pose["translation"]), Quaternion(pose["rotation"])


def gt_in_ego(info: Dataroot, token_: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Detection-class GT of a sample in the LIDAR_TOP ego frame as ``(N, 9)`` model-style
    boxes (yaw of the box x axis projected in the ego xy plane), HAT labels, attributes."""
    t, q = _pose(info.ego_pose[token_])
    rows, labels, attrs = [], [], []
    for a in info.anns[token_]:
        name = DEVKIT_NAME.get(a["category_name"])
        if name is None:
            continue
        c = q.inverse.rotate(np.array(a["translation"]) - t)
        rot = (q.inverse * Quaternion(a["rotation"])).rotation_matrix
        yaw = math.atan2(rot[1, 0], rot[0, 0])
        rows.append([*c, *a["size"], yaw, 0.0, 0.0])
        labels.append(DETECTION_CLASSES.index(name))
        attrs.append(a["attribute"] if "attribute" in a else "")
    return np.array(rows).reshape(-1, 9), np.array(labels, dtype=np.int64), attrs


def make_predictions(info: Dataroot, case: str, seed: int = 0) -> list[dict[str, Any]]:
    """Model outputs (ego frame, HAT labels) per eval sample for a named case:

    - ``perfect``: every GT box of a detection class seen by a lidar/radar point, exactly,
      with its attribute and a random score;
    - ``jittered``: centres moved by 0-3 m, sizes and headings perturbed (barriers turned by
      pi half of the time), velocities noisy, 15 % missed, 20 % wrong class, false positives;
    - ``barrier_flip``: ``perfect`` with every heading turned by pi (a barrier's heading is
      only defined up to pi: its orientation error stays 0);
    - ``tied_scores``: ``jittered`` with scores rounded to 0.1 (ties in the ranking);
    - ``empty``: nothing.
    """
    rng = np.random.default_rng(seed)
    attr_of = {}
    for s in info.eval_tokens:
        for a in info.anns[s]:
            attr_of[a["token"]] = next(
                (
                    n
                    for n in ATTRIBUTES
                    if a["attribute_tokens"] and token("attr", n) == a["attribute_tokens"][0]
                ),
                "",
            )
    outs = []
    for s in info.eval_tokens:
        if case == "empty":
            outs.append(
                {"bboxes": np.zeros((0, 9)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}
            )
            continue
        t, q = _pose(info.ego_pose[s])
        boxes, labels, _ = gt_in_ego(info, s)
        anns = [a for a in info.anns[s] if a["category_name"] in DEVKIT_NAME]
        attrs = [attr_of[a["token"]] for a in anns]
        # Velocity of the object in the ego frame, from the neighbouring annotations.
        by_tok = {a["token"]: a for ss in info.eval_tokens for a in info.anns[ss]}
        for i, a in enumerate(anns):
            nb = by_tok.get(a["next"]) or by_tok.get(a["prev"])
            if nb is not None:
                v = (np.array(nb["translation"]) - np.array(a["translation"])) / 0.5
                v = v if a["next"] else -v
                boxes[i, 7:9] = q.inverse.rotate(np.r_[v[:2], 0.0])[:2]
        scores = rng.uniform(0.05, 1.0, len(boxes))
        if case in ("perfect", "barrier_flip"):
            seen = np.array([a["num_lidar_pts"] + a["num_radar_pts"] > 0 for a in anns], bool)
            if case == "barrier_flip":  # every heading turned by pi
                boxes[:, 6] += np.pi
            attrs = [
                x or default_attributes([DETECTION_CLASSES[lab]], [0.0])[0]
                for x, lab in zip(attrs, labels)
            ]
            outs.append(
                {
                    "bboxes": boxes[seen],
                    "scores": scores[seen],
                    "labels": labels[seen],
                    "attributes": [a for a, k in zip(attrs, seen) if k],
                }
            )
            continue
        assert case in ("jittered", "tied_scores"), case
        n = len(boxes)
        shift = rng.normal(0, 1, (n, 2))
        shift *= (rng.uniform(0, 3, n) / np.maximum(np.linalg.norm(shift, axis=1), 1e-9))[:, None]
        boxes[:, :2] += shift
        boxes[:, 3:6] *= rng.uniform(0.7, 1.3, (n, 3))
        boxes[:, 6] += rng.normal(0, 0.3, n)
        barrier = labels == DETECTION_CLASSES.index("barrier")
        boxes[barrier, 6] += np.pi * (rng.random(barrier.sum()) < 0.5)
        boxes[:, 7:9] += rng.normal(0, 0.8, (n, 2))
        wrong = rng.random(n) < 0.2
        labels = np.where(wrong, rng.integers(0, 10, n), labels)
        keep = rng.random(n) > 0.15
        fp = int(rng.integers(3, 9))
        fps = np.column_stack(
            [
                rng.uniform(-45, 45, (fp, 2)),
                rng.uniform(0, 2, fp),
                rng.uniform(0.5, 4, (fp, 3)),
                rng.uniform(-3, 3, fp),
                rng.normal(0, 2, (fp, 2)),
            ]
        )
        # Duplicates of kept boxes with lower scores (a second match must be a false positive).
        dup = np.flatnonzero(keep)[:3]
        dboxes = boxes[dup].copy()
        dboxes[:, :2] += 0.2
        all_scores = np.concatenate([scores[keep], rng.uniform(0.05, 0.9, fp), scores[dup] * 0.5])
        if case == "tied_scores":  # scores on a 0.1 grid: many ties, broken as the devkit does
            all_scores = np.round(all_scores, 1)
        outs.append(
            {
                "bboxes": np.concatenate([boxes[keep], fps, dboxes]),
                "scores": all_scores,
                "labels": np.concatenate([labels[keep], rng.integers(0, 10, fp), labels[dup]]),
            }
        )
    return outs


def results_json(info: Dataroot, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The outputs as a nuScenes submission (global boxes, converted with pyquaternion)."""
    results = {}
    for s, out in zip(info.eval_tokens, outputs):
        t, q = _pose(info.ego_pose[s])
        labels = [int(x) for x in out["labels"]]
        names = [DETECTION_CLASSES[x] for x in labels]
        b = np.asarray(out["bboxes"], dtype=np.float64).reshape(-1, 9)
        attrs = out.get("attributes") or default_attributes(names, np.hypot(b[:, 7], b[:, 8]))
        boxes = []
        for i in range(len(b)):
            rot = q * Quaternion(axis=[0, 0, 1], angle=b[i, 6])
            boxes.append(
                {
                    "sample_token": s,
                    "translation": (q.rotate(b[i, :3]) + t).tolist(),
                    "size": b[i, 3:6].tolist(),
                    "rotation": list(rot.elements),
                    "velocity": q.rotate(np.r_[b[i, 7:9], 0.0])[:2].tolist(),
                    "detection_name": names[i],
                    "detection_score": float(out["scores"][i]),
                    "attribute_name": attrs[i],
                }
            )
        results[s] = boxes
    meta = {
        "use_camera": True,
        "use_lidar": False,
        "use_radar": False,
        "use_map": False,
        "use_external": False,
    }
    return {"meta": meta, "results": results}


# ---------------------------------------------------------------- nuscenes-devkit reference


def devkit_eval(dataroot: Path, result_path: Path, out_dir: Path, eval_set: str = "mini_val"):
    """nuscenes-devkit's ``DetectionEval`` summary (``metrics_summary.json`` content).

    The devkit's ``filter_eval_boxes`` raises on a results file without any box (it looks
    for a box to read the class field from); for that case the filter step of the predictions
    is skipped (filtering nothing is nothing) and the rest of its pipeline runs unchanged.
    """
    from nuscenes import NuScenes
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.common.data_classes import EvalBoxes
    from nuscenes.eval.common.loaders import add_center_dist, filter_eval_boxes, load_gt
    from nuscenes.eval.detection.data_classes import DetectionBox
    from nuscenes.eval.detection.evaluate import DetectionEval

    nusc = NuScenes(version=VERSION, dataroot=str(dataroot), verbose=False)
    cfg = config_factory("detection_cvpr_2019")
    data = json.loads(Path(result_path).read_text())
    if any(data["results"].values()):
        ev = DetectionEval(nusc, cfg, str(result_path), eval_set, str(out_dir), verbose=False)
    else:
        ev = DetectionEval.__new__(DetectionEval)
        ev.cfg, ev.verbose = cfg, False
        gt = load_gt(nusc, eval_set, DetectionBox, verbose=False)
        ev.gt_boxes = filter_eval_boxes(nusc, add_center_dist(nusc, gt), cfg.class_range)
        ev.pred_boxes = EvalBoxes.deserialize(data["results"], DetectionBox)
    metrics, _ = ev.evaluate()
    return metrics.serialize(), nusc


def metric_batch(nusc, tokens: list[str]) -> dict[str, Any]:
    """A ``NuscenesMetric`` batch for ``tokens`` built with the devkit's own tables and
    velocities (global GT, LIDAR_TOP ego pose, bike racks)."""
    from nuscenes.eval.detection.utils import category_to_detection_name

    batch: dict[str, list[Any]] = {
        k: []
        for k in (
            "sample_token",
            "ego2global",
            "gt_boxes_global",
            "gt_rotation_global",
            "gt_labels",
            "gt_attributes",
            "gt_num_lidar_pts",
            "gt_num_radar_pts",
            "gt_velocity_valid",
            "gt_bike_racks_global",
        )
    }
    attr_name = {a["token"]: a["name"] for a in nusc.attribute}
    for s in tokens:
        sample = nusc.get("sample", s)
        pose = nusc.get(
            "ego_pose", nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["ego_pose_token"]
        )
        m = np.eye(4)
        m[:3, :3] = Quaternion(pose["rotation"]).rotation_matrix
        m[:3, 3] = pose["translation"]
        rows, rots, labels, attrs, nl, nr, racks = [], [], [], [], [], [], []
        for a_tok in sample["anns"]:
            a = nusc.get("sample_annotation", a_tok)
            if a["category_name"] == "static_object.bicycle_rack":
                racks.append([*a["translation"], *a["size"], *a["rotation"]])
            name = category_to_detection_name(a["category_name"])
            if name is None:
                continue
            v = nusc.box_velocity(a_tok)[:2]
            yaw = Quaternion(a["rotation"]).yaw_pitch_roll[0]
            rows.append([*a["translation"], *a["size"], yaw, *v])
            rots.append(a["rotation"])
            labels.append(DETECTION_CLASSES.index(name))
            attrs.append(attr_name[a["attribute_tokens"][0]] if a["attribute_tokens"] else "")
            nl.append(a["num_lidar_pts"])
            nr.append(a["num_radar_pts"])
        rows = np.array(rows).reshape(-1, 9)
        batch["sample_token"].append(s)
        batch["ego2global"].append(m)
        batch["gt_velocity_valid"].append(~np.isnan(rows[:, 7]))
        batch["gt_boxes_global"].append(np.nan_to_num(rows))
        batch["gt_rotation_global"].append(np.array(rots).reshape(-1, 4))
        batch["gt_labels"].append(np.array(labels, dtype=np.int64))
        batch["gt_attributes"].append(attrs)
        batch["gt_num_lidar_pts"].append(np.array(nl, dtype=np.int64))
        batch["gt_num_radar_pts"].append(np.array(nr, dtype=np.int64))
        batch["gt_bike_racks_global"].append(np.array(racks).reshape(-1, 10))
    return batch


def assert_summaries_equal(ours: dict, ref: dict, tol: float = 1e-6) -> None:
    """Every AP, TP error and summary of two metrics_summary dicts within ``tol`` (NaN where
    the other is NaN)."""

    def close(a, b, where):
        if isinstance(b, float) and math.isnan(b):
            assert math.isnan(a), f"{where}: {a} vs devkit nan"
        else:
            assert abs(a - b) <= tol, f"{where}: {a} vs devkit {b}"

    assert list(ours["label_aps"]) == list(ref["label_aps"])
    for c in ref["label_aps"]:
        assert [float(k) for k in ours["label_aps"][c]] == [float(k) for k in ref["label_aps"][c]]
        for th, v in ref["label_aps"][c].items():
            close(ours["label_aps"][c][float(th)], v, f"AP {c}@{th}")
        for m in TP_METRICS:
            close(ours["label_tp_errors"][c][m], ref["label_tp_errors"][c][m], f"{m} of {c}")
        close(ours["mean_dist_aps"][c], ref["mean_dist_aps"][c], f"mean AP of {c}")
    for m in TP_METRICS:
        close(ours["tp_errors"][m], ref["tp_errors"][m], m)
        close(ours["tp_scores"][m], ref["tp_scores"][m], m)
    close(ours["mean_ap"], ref["mean_ap"], "mAP")
    close(ours["nd_score"], ref["nd_score"], "NDS")


def jitter_batch_predictions(batch: dict[str, Any], seed: int = 0) -> list[dict[str, Any]]:
    """Model outputs (ego frame) from a :func:`metric_batch`'s ground truth: boxes moved by
    0-2.5 m, resized, turned and with noisy velocities, 15 % missed, 10 % wrong class, and a
    few false positives per sample (for dataroots this module did not write)."""
    rng = np.random.default_rng(seed)
    outs = []
    for m, boxes, rot, labels, valid in zip(
        batch["ego2global"],
        batch["gt_boxes_global"],
        batch["gt_rotation_global"],
        batch["gt_labels"],
        batch["gt_velocity_valid"],
    ):
        r, t = m[:3, :3], m[:3, 3]
        n = len(boxes)
        ego = np.zeros((n, 9))
        ego[:, :3] = (boxes[:, :3] - t) @ r
        ego[:, 3:6] = boxes[:, 3:6]
        for i in range(n):
            rel = r.T @ Quaternion(rot[i]).rotation_matrix
            ego[i, 6] = math.atan2(rel[1, 0], rel[0, 0])
        vel = np.where(valid[:, None], boxes[:, 7:9], 0.0)
        ego[:, 7:9] = (np.column_stack([vel, np.zeros(n)]) @ r)[:, :2]
        ego[:, :2] += rng.normal(0, 1, (n, 2)) * rng.uniform(0, 1.2, (n, 1))
        ego[:, 3:6] *= rng.uniform(0.8, 1.2, (n, 3))
        ego[:, 6] += rng.normal(0, 0.3, n)
        ego[:, 7:9] += rng.normal(0, 0.5, (n, 2))
        lab = np.where(rng.random(n) < 0.1, rng.integers(0, 10, n), labels)
        keep = rng.random(n) > 0.15
        fp = 4
        fps = np.column_stack(
            [rng.uniform(-40, 40, (fp, 2)), np.ones(fp), np.full((fp, 3), 2.0), np.zeros((fp, 3))]
        )
        outs.append(
            {
                "bboxes": np.concatenate([ego[keep], fps]),
                "scores": rng.uniform(0.05, 1.0, int(keep.sum()) + fp),
                "labels": np.concatenate([lab[keep], rng.integers(0, 10, fp)]),
            }
        )
    return outs


def dataroot_of_batch(root: Path, batch: dict[str, Any]) -> Dataroot:
    """A :class:`Dataroot` (eval tokens and LIDAR_TOP poses) for :func:`results_json`."""
    info = Dataroot(Path(root), list(batch["sample_token"]))
    for tok, m in zip(batch["sample_token"], batch["ego2global"]):
        info.ego_pose[tok] = {
            "translation": m[:3, 3].tolist(),
            "rotation": list(Quaternion(matrix=m[:3, :3], atol=1e-6).elements),
        }
    return info
