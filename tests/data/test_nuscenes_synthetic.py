"""Synthetic nuScenes: table integrity, projections, lidar counts, map <-> ground agreement,
official scene names, determinism, skip/refuse/atomicity, and (when nuscenes-devkit is
importable) loading in NuScenes / NuScenesMap."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict

import cv2
import numpy as np
import pytest

from hat.data.readers.nuscenes_constants import (
    CATEGORY_TO_DETECTION,
    DETECTION_CLASSES,
    NUSCENES_CAMERAS,
)
from hat.data.readers.nuscenes_splits import SPLITS
from hat.data.synthetic import nuscenes as nuscenes_module
from hat.data.synthetic.nuscenes import README_NAME, _jobs, make_nuscenes
from hat.data.synthetic.nuscenes_actors import plan_scene
from hat.data.synthetic.nuscenes_ground import GROUND_KINDS, GroundPainter
from hat.data.synthetic.nuscenes_map import (
    PRIOR_RESOLUTION,
    map_expansion,
    semantic_prior,
    token_of,
)
from hat.data.synthetic.nuscenes_scene import SceneGenerator
from hat.data.synthetic.nuscenes_sensors import matrix_from_quaternion
from hat.data.synthetic.nuscenes_tables import TABLE_NAMES
from hat.data.synthetic.nuscenes_world import LOCATIONS, make_world
from hat.tools.make_synthetic import main as make_synthetic_main

VERSION = "v1.0-trainval"
W, H = 400, 225
FRAMES = 3
SEED = 5
ARGS = dict(version=VERSION, num_train_scenes=1, num_val_scenes=1, seed=SEED,
            frames_per_scene=FRAMES, height=H, width=W)  # fmt: skip


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("nusc") / "nuscenes_raw")
    summary = make_nuscenes(root, **ARGS)
    assert summary["skipped"] == 0 and summary["samples"] == 2 * FRAMES
    return root


@pytest.fixture(scope="module")
def tables(dataroot) -> dict[str, list[dict]]:
    out = {}
    for name in TABLE_NAMES:
        with open(os.path.join(dataroot, VERSION, f"{name}.json")) as f:
            out[name] = json.load(f)
    return out


def _index(tables) -> dict[str, dict[str, dict]]:
    return {name: {r["token"]: r for r in rows} for name, rows in tables.items()}


_REFERENCES = {  # field -> table it points into
    "sensor_token": "sensor", "calibrated_sensor_token": "calibrated_sensor",
    "ego_pose_token": "ego_pose", "sample_token": "sample", "scene_token": "scene",
    "log_token": "log", "instance_token": "instance", "category_token": "category",
    "visibility_token": "visibility", "first_sample_token": "sample",
    "last_sample_token": "sample", "first_annotation_token": "sample_annotation",
    "last_annotation_token": "sample_annotation",
}  # fmt: skip
_SELF_LINKED = ("sample", "sample_data", "sample_annotation")


def test_every_token_reference_resolves(tables):
    idx = _index(tables)
    assert len(tables["category"]) == 23 and len(tables["attribute"]) == 8
    assert [v["token"] for v in tables["visibility"]] == ["1", "2", "3", "4"]
    assert len(tables["sensor"]) == 12 and len(tables["map"]) == 4
    checked = 0
    for name, rows in tables.items():
        assert len(idx[name]) == len(rows), f"duplicate tokens in {name}"
        for row in rows:
            for key, target in _REFERENCES.items():
                if key in row:
                    assert row[key] in idx[target], f"{name}.{key} {row[key]} missing"
                    checked += 1
            for tok in row.get("attribute_tokens", []):
                assert tok in idx["attribute"]
            for tok in row.get("log_tokens", []):
                assert tok in idx["log"]
            if name in _SELF_LINKED:
                for key in ("prev", "next"):
                    assert row[key] == "" or row[key] in idx[name], f"{name}.{key} dangling"
    assert checked > 1000
    # every log is in exactly one map, and that map is of the log's location
    owner = Counter(t for m in tables["map"] for t in m["log_tokens"])
    assert set(owner) == set(idx["log"]) and set(owner.values()) == {1}
    for m in tables["map"]:
        assert m["category"] == "semantic_prior" and m["filename"].startswith("maps/")


def test_linked_lists_and_counts(tables, dataroot):
    idx = _index(tables)
    assert len(tables["scene"]) == 2
    for scene in tables["scene"]:
        chain, tok = [], scene["first_sample_token"]
        while tok:
            chain.append(idx["sample"][tok])
            tok = chain[-1]["next"]
        assert len(chain) == scene["nbr_samples"] == FRAMES
        assert chain[-1]["token"] == scene["last_sample_token"]
        assert all(s["scene_token"] == scene["token"] for s in chain)
        assert all(b["prev"] == a["token"] for a, b in zip(chain, chain[1:], strict=False))
        stamps = [s["timestamp"] for s in chain]
        assert all(0.49e6 < b - a < 0.51e6 for a, b in zip(stamps, stamps[1:], strict=False))
    # every sample has the 6 cameras and LIDAR_TOP as key frames; channel chains are consistent
    per_sample = defaultdict(dict)
    for sd in tables["sample_data"]:
        cal = idx["calibrated_sensor"][sd["calibrated_sensor_token"]]
        channel = idx["sensor"][cal["sensor_token"]]["channel"]
        assert sd["is_key_frame"] and channel not in per_sample[sd["sample_token"]]
        per_sample[sd["sample_token"]][channel] = sd
        assert sd["filename"].startswith(f"samples/{channel}/")
        assert sd["filename"].endswith(
            f"__{channel}__{sd['timestamp']}.{sd['fileformat']}"
            + (".bin" if channel == "LIDAR_TOP" else "")
        )
        path = os.path.join(dataroot, sd["filename"])
        if channel == "LIDAR_TOP":
            assert sd["fileformat"] == "pcd" and os.path.getsize(path) % 20 == 0
            assert cal["camera_intrinsic"] == []
        else:
            img = cv2.imread(path)
            assert sd["fileformat"] == "jpg"
            assert img.shape == (H, W, 3) == (sd["height"], sd["width"], 3)
            focal = 809.0 if channel == "CAM_BACK" else 1265.0  # nuScenes' lenses at 1600 px
            assert abs(np.array(cal["camera_intrinsic"])[0, 0] - focal * W / 1600) < 30 * W / 1600
        if sd["next"]:
            nxt = idx["sample_data"][sd["next"]]
            assert nxt["prev"] == sd["token"] and nxt["timestamp"] > sd["timestamp"]
            assert idx["sample"][sd["sample_token"]]["next"] == nxt["sample_token"]
        assert idx["ego_pose"][sd["ego_pose_token"]]["timestamp"] == sd["timestamp"]
    for sample in tables["sample"]:
        assert set(per_sample[sample["token"]]) == {"LIDAR_TOP", *NUSCENES_CAMERAS}
        assert per_sample[sample["token"]]["LIDAR_TOP"]["timestamp"] == sample["timestamp"]
    # instances: first -> next ... -> last covers nbr_annotations consecutive samples
    by_instance = Counter(a["instance_token"] for a in tables["sample_annotation"])
    for inst in tables["instance"]:
        tok, n = inst["first_annotation_token"], 0
        prev = None
        while tok:
            ann = idx["sample_annotation"][tok]
            assert ann["instance_token"] == inst["token"] and ann["prev"] == (prev or "")
            if prev:
                assert idx["sample"][idx["sample_annotation"][prev]["sample_token"]]["next"] == \
                    ann["sample_token"]  # fmt: skip
            prev, tok, n = tok, ann["next"], n + 1
        assert prev == inst["last_annotation_token"]
        assert n == inst["nbr_annotations"] == by_instance[inst["token"]]
    assert len(tables["sample_annotation"]) > 20 * len(tables["sample"])


def test_annotations_are_plausible(tables):
    idx = _index(tables)
    cat_of = {i["token"]: idx["category"][i["category_token"]]["name"] for i in tables["instance"]}
    vis = Counter(a["visibility_token"] for a in tables["sample_annotation"])
    assert set(vis) == {"1", "2", "3", "4"}
    no_points = sum(
        a["num_lidar_pts"] + a["num_radar_pts"] == 0 for a in tables["sample_annotation"]
    )
    assert 0 < no_points < 0.7 * len(tables["sample_annotation"])
    for ann in tables["sample_annotation"]:
        cat = cat_of[ann["instance_token"]]
        attrs = [idx["attribute"][t]["name"] for t in ann["attribute_tokens"]]
        w, length, h = ann["size"]
        assert abs(ann["translation"][2] - h / 2) < 1e-6  # standing on the ground
        assert abs(np.linalg.norm(ann["rotation"]) - 1) < 1e-9
        if cat in ("vehicle.bicycle", "vehicle.motorcycle"):
            assert len(attrs) == 1 and attrs[0].startswith("cycle.")
        elif cat.startswith("vehicle."):
            assert len(attrs) == 1 and attrs[0].startswith("vehicle.")
            assert 1.4 < w < 3.3 and 3.5 < length < 16
        elif cat.startswith("human."):
            assert len(attrs) == 1 and attrs[0].startswith("pedestrian.")
            assert 0.8 < h < 2.1
        else:
            assert attrs == []
        if ann["next"] and attrs and attrs[0].endswith("moving"):
            nxt = idx["sample_annotation"][ann["next"]]
            dt = (idx["sample"][nxt["sample_token"]]["timestamp"]
                  - idx["sample"][ann["sample_token"]]["timestamp"]) / 1e6  # fmt: skip
            speed = np.hypot(*np.subtract(nxt["translation"][:2], ann["translation"][:2])) / dt
            assert 0.3 < speed < 20, (cat, speed)


def test_plans_hold_all_detection_classes_and_other_categories():
    world = make_world("boston-seaport", 0)
    cats = set()
    for seed in range(3):
        cats |= {a.category for a in plan_scene(world, np.random.default_rng(seed), 19.5).actors}
    assert {CATEGORY_TO_DETECTION[c] for c in cats if c in CATEGORY_TO_DETECTION} == set(
        DETECTION_CLASSES
    )
    assert len({c for c in cats if c not in CATEGORY_TO_DETECTION}) >= 3


def _annotation_at(ann, idx, t_us):
    """The annotation's centre moved to time ``t_us`` (linear between its neighbours)."""
    t0 = idx["sample"][ann["sample_token"]]["timestamp"]
    other = idx["sample_annotation"].get(ann["next"] or ann["prev"])
    centre = np.array(ann["translation"])
    if other is None:
        return centre
    t1 = idx["sample"][other["sample_token"]]["timestamp"]
    velocity = (np.array(other["translation"]) - centre) / (t1 - t0)
    return centre + velocity * (t_us - t0)


def test_box_centres_project_onto_their_drawn_cuboids(tables, dataroot):
    """Project annotation centres with the tables' calibration and ego pose: the camera image
    (re-rendered, and equal to the JPEG on disk) shows that object at that pixel."""
    idx = _index(tables)
    scene = tables["scene"][0]
    log = idx["log"][scene["log_token"]]
    job = next(j for j in _jobs(dataroot, SEED, [("train", scene["name"])], FRAMES, W, H)[1])
    assert job.logfile == log["logfile"]
    gen = SceneGenerator(job)
    actor_of = {gen.instance_token(i): i for i in range(len(gen.plan.actors))}
    k = 1
    sample = idx["sample"][scene["first_sample_token"]]
    sample = idx["sample"][sample["next"]]
    anns = [a for a in tables["sample_annotation"] if a["sample_token"] == sample["token"]]
    checked = hits = 0
    for sd in tables["sample_data"]:
        cal = idx["calibrated_sensor"][sd["calibrated_sensor_token"]]
        channel = idx["sensor"][cal["sensor_token"]]["channel"]
        if sd["sample_token"] != sample["token"] or channel == "LIDAR_TOP":
            continue
        result = gen.render(k, channel)
        on_disk = cv2.imread(os.path.join(dataroot, sd["filename"]))[..., ::-1]
        assert np.abs(on_disk.astype(int) - result.image).mean() < 4.0
        pose = idx["ego_pose"][sd["ego_pose_token"]]
        e_rot, e_pos = matrix_from_quaternion(pose["rotation"]), np.array(pose["translation"])
        c_rot, c_pos = matrix_from_quaternion(cal["rotation"]), np.array(cal["translation"])
        K = np.array(cal["camera_intrinsic"])
        for ann in anns:
            if ann["visibility_token"] != "4":
                continue
            centre = _annotation_at(ann, idx, sd["timestamp"])
            cam = c_rot.T @ (e_rot.T @ (centre - e_pos) - c_pos)
            if cam[2] < 1.0:
                continue
            u, v = (K @ cam)[:2] / cam[2]
            if not (2 <= u < W - 2 and 2 <= v < H - 2):
                continue
            checked += 1
            hits += result.owner[int(v), int(u)] == actor_of[ann["instance_token"]]
    assert checked >= 8
    assert hits >= 0.9 * checked, (hits, checked)


def test_lidar_points_fall_in_boxes_as_counted(tables, dataroot):
    idx = _index(tables)
    sample = tables["sample"][1]
    sd = next(s for s in tables["sample_data"]
              if s["sample_token"] == sample["token"] and s["fileformat"] == "pcd")  # fmt: skip
    pts = np.fromfile(os.path.join(dataroot, sd["filename"]), dtype="<f4").reshape(-1, 5)
    assert len(pts) > 3000 and set(np.unique(pts[:, 4])) <= set(range(32))
    cal = idx["calibrated_sensor"][sd["calibrated_sensor_token"]]
    pose = idx["ego_pose"][sd["ego_pose_token"]]
    world = pts[:, :3] @ matrix_from_quaternion(cal["rotation"]).T + cal["translation"]
    world = world @ matrix_from_quaternion(pose["rotation"]).T + pose["translation"]
    assert np.percentile(world[:, 2], 30) == pytest.approx(0.0, abs=0.1)  # ground returns
    above = world[world[:, 2] > 0.06]  # returns off the ground
    compared = 0
    for ann in tables["sample_annotation"]:
        if ann["sample_token"] != sample["token"]:
            continue
        local = (above - ann["translation"]) @ matrix_from_quaternion(ann["rotation"])
        half = np.array([ann["size"][1], ann["size"][0], ann["size"][2]]) / 2

        def count(margin, local=local, half=half):
            return int(np.all(np.abs(local) <= half + margin, axis=1).sum())

        # num_lidar_pts = returns inside the box (2 cm range noise: a few on its faces)
        assert count(0.0) <= ann["num_lidar_pts"] <= count(0.05)
        compared += ann["num_lidar_pts"] > 0
    assert compared >= 5


@pytest.mark.parametrize("location", LOCATIONS)
def test_map_layers_match_the_painted_ground(location):
    world = make_world(location, SEED)
    m = map_expansion(world)
    assert m["version"] >= "1.3" and len(m["canvas_edge"]) == 2
    nodes = {n["token"]: (n["x"], n["y"]) for n in m["node"]}
    polygons = {p["token"]: np.array([nodes[t] for t in p["exterior_node_tokens"]])
                for p in m["polygon"]}  # fmt: skip
    lines = {ln["token"]: np.array([nodes[t] for t in ln["node_tokens"]]) for ln in m["line"]}
    painter = GroundPainter(world, SEED)
    kind = {name: i for i, name in enumerate(GROUND_KINDS)}
    rng = np.random.default_rng(0)

    def inside(poly, n):  # uniform points in a (turned) rectangle c0 c1 c2 c3
        u, v = rng.uniform(0, 1, (2, n, 1))
        return (poly[0] + u * (poly[1] - poly[0]) + v * (poly[3] - poly[0])).astype(np.float32)

    for lane in m["lane"]:
        assert lane["left_lane_divider_segments"] and lane["right_lane_divider_segments"]
    # the semantic prior (row 0 north, 0.1 m/px) is set on roads and walkways, clear elsewhere
    prior = semantic_prior(world)
    assert prior.shape == tuple(round(e / PRIOR_RESOLUTION) for e in m["canvas_edge"][::-1])

    def prior_at(xy):
        rows = np.round(prior.shape[0] - xy[:, 1] / PRIOR_RESOLUTION).astype(int)
        return prior[rows, np.round(xy[:, 0] / PRIOR_RESOLUTION).astype(int)]

    on = np.concatenate([inside(polygons[p["polygon_token"]], 30) for p in m["walkway"]])
    assert np.mean(prior_at(on) == 255) > 0.98
    bx = np.array([(b[0] + b[2]) / 2 for b in world.buildings])
    by = np.array([(b[1] + b[3]) / 2 for b in world.buildings])
    assert np.all(prior_at(np.stack(world.to_global(bx, by), -1)) == 0)
    assert m["lane_connector"] and set(m["connectivity"]) == {
        r["token"] for r in m["lane"] + m["lane_connector"]
    }
    crossing = np.concatenate(
        [inside(polygons[p["polygon_token"]], 200) for p in m["ped_crossing"]]
    )
    kinds = painter.kinds(crossing[:, 0], crossing[:, 1])
    assert 0.35 < np.mean(kinds == kind["white"]) < 0.65  # zebra stripes
    walk = np.concatenate([inside(polygons[p["polygon_token"]], 50) for p in m["walkway"]])
    assert np.mean(np.isin(painter.kinds(walk[:, 0], walk[:, 1]),
                           [kind["walkway"], kind["curb"]])) > 0.97  # fmt: skip
    segs = [s for s in m["road_segment"] if not s["is_intersection"]]
    road = np.concatenate([inside(polygons[s["polygon_token"]], 50) for s in segs])
    assert np.mean(painter.kinds(road[:, 0], road[:, 1]) != kind["grass"]) > 0.99
    # dividers: points on the centre lines are painted, on lane dividers dashed (1/3 painted)
    for layer, lo, hi in (("road_divider", 0.0, 0.0), ("lane_divider", 0.25, 0.45)):
        pts = []
        for rec in m[layer]:
            a, b = lines[rec["line_token"]][0], lines[rec["line_token"]][-1]
            t = rng.uniform(0, 1, (100, 1))
            pts.append(a + t * (b - a))
        pts = np.concatenate(pts).astype(np.float32)
        if layer == "road_divider":  # a double line: 0.1-0.25 m either side of the centre
            pts = pts + np.float32(0.17) * _normal(m, lines, layer, len(pts) // len(m[layer]))
        painted = np.isin(painter.kinds(pts[:, 0], pts[:, 1]), [kind["white"], kind["yellow"]])
        if layer == "road_divider":
            assert painted.mean() > 0.97
        else:
            assert lo < painted.mean() < hi


def _normal(m, lines, layer, per_line):
    out = []
    for rec in m[layer]:
        a, b = lines[rec["line_token"]][0], lines[rec["line_token"]][-1]
        d = (b - a) / np.linalg.norm(b - a)
        out.append(np.repeat([[-d[1], d[0]]], per_line, 0))
    return np.concatenate(out).astype(np.float32)


def test_scene_names_are_official_and_split_consistent(tables):
    names = sorted(s["name"] for s in tables["scene"])
    assert sum(n in SPLITS["train"] for n in names) == 1
    assert sum(n in SPLITS["val"] for n in names) == 1
    for split in ("train", "val", "mini_train", "mini_val"):
        picked = nuscenes_module._choose_scenes(0, "v", {split: len(SPLITS[split]) // 2 or 1})
        assert {n for _, n in picked} <= set(SPLITS[split])


def test_cli_mini_skip_refuse_and_overwrite(tmp_path, capsys):
    out = str(tmp_path / "mini")
    argv = ["nuscenes", "--out", out, "--version", "v1.0-mini", "--num-train-scenes", "1",
            "--num-val-scenes", "1", "--frames-per-scene", "2",
            "--image-size", "160x90"]  # fmt: skip
    assert make_synthetic_main(argv) == 0
    with open(os.path.join(out, "v1.0-mini", "scene.json")) as f:
        names = sorted(s["name"] for s in json.load(f))
    assert names[0] in SPLITS["mini_train"] + SPLITS["mini_val"]
    assert {n in SPLITS["mini_val"] for n in names} == {True, False}
    img = next(p for p in os.listdir(os.path.join(out, "samples", "CAM_FRONT")))
    assert cv2.imread(os.path.join(out, "samples", "CAM_FRONT", img)).shape == (90, 160, 3)
    stamp = os.path.getmtime(os.path.join(out, README_NAME))
    capsys.readouterr()
    assert make_synthetic_main(argv) == 0  # same arguments: nothing to do
    assert "nothing to do" in capsys.readouterr().out
    assert os.path.getmtime(os.path.join(out, README_NAME)) == stamp
    other = [*argv[:-1], "192x108"]
    assert make_synthetic_main(other) == 1  # different arguments: refused
    assert "--overwrite" in capsys.readouterr().err
    assert make_synthetic_main([*other, "--overwrite"]) == 0
    img = next(p for p in os.listdir(os.path.join(out, "samples", "CAM_FRONT")))
    assert cv2.imread(os.path.join(out, "samples", "CAM_FRONT", img)).shape == (108, 192, 3)
    assert sorted(os.listdir(tmp_path)) == ["mini"]  # no temporary trees left
    assert make_synthetic_main([*argv[:8], "3", *argv[9:]]) == 1  # only 2 mini_val scenes
    assert "mini_val" in capsys.readouterr().err


def test_same_seed_same_files_and_failure_leaves_nothing(tmp_path, tree_digest, monkeypatch):
    args = dict(ARGS, num_train_scenes=1, num_val_scenes=0, frames_per_scene=2, height=90,
                width=160)  # fmt: skip
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    make_nuscenes(a, **args)
    make_nuscenes(b, **args)
    assert tree_digest(a) == tree_digest(b)
    calls = []
    real = nuscenes_module.generate_scene

    def failing(job):
        calls.append(job.name)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(job)

    monkeypatch.setattr(nuscenes_module, "generate_scene", failing)
    c = str(tmp_path / "c")
    with pytest.raises(RuntimeError, match="disk on fire"):
        make_nuscenes(c, **dict(args, num_train_scenes=2))
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]  # neither c nor a partial tree


def test_loads_in_nuscenes_devkit(dataroot, tables):
    nuscenes = pytest.importorskip("nuscenes")
    from nuscenes.map_expansion.map_api import NuScenesMap
    from nuscenes.utils.splits import create_splits_scenes

    nusc = nuscenes.NuScenes(VERSION, dataroot, verbose=False)
    assert len(nusc.sample) == 2 * FRAMES
    assert all(set(s["data"]) == {"LIDAR_TOP", *NUSCENES_CAMERAS} for s in nusc.sample)
    splits = create_splits_scenes()
    assert {s["name"] for s in nusc.scene} <= set(splits["train"]) | set(splits["val"])
    attribute = {a["token"]: a["name"] for a in nusc.attribute}
    moving = [
        a
        for a in nusc.sample_annotation
        if a["next"]
        and a["prev"]
        and [attribute[t] for t in a["attribute_tokens"]] == ["vehicle.moving"]
    ]
    if moving:  # the devkit's velocity from the annotation's neighbours
        assert np.linalg.norm(nusc.box_velocity(moving[0]["token"])[:2]) > 0.3
    for location in LOCATIONS:
        nmap = NuScenesMap(dataroot, location)
        world = make_world(location, SEED)
        x, y = (float(v) for v in world.to_global(world.roads_y[0], world.roads_x[0]))
        layers = ["drivable_area", "ped_crossing", "walkway", "road_divider", "lane_divider"]
        mask = nmap.get_map_mask((x, y, 60, 60), 0, layers, canvas_size=(120, 120))
        assert mask.shape == (5, 120, 120) and all(mask[i].any() for i in range(5))
        road = world.roads[0]  # 30 m past its first junction, in the inner lane of +x traffic
        px, py = road.point(world.roads_y[0] + 30, world.lane_lateral(1, 0))
        assert nmap.get_closest_lane(px, py) == token_of(
            location, "lane", "road0/seg1/block1/lane0"
        )
