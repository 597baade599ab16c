"""Generate one synthetic nuScenes scene: its files and its rows of the 13 tables.

Key frames are 0.5 s apart (2 Hz, a few ms of jitter). At each key frame the lidar sweep
defines the sample time and its ego pose; each camera fires a few ms later or earlier
(:func:`camera_time_offsets`) and is rendered with the ego pose and object poses of its own
time, so every ``sample_data`` has its own ``ego_pose`` as in the real data. Objects within
60 m of the ego are annotated, every instance over one contiguous run of samples (linked
lists ``prev``/``next``); an annotation's visibility is the visible fraction of the object over
the 6 images, its ``num_lidar_pts`` the lidar returns on its box, its ``num_radar_pts`` a draw
that falls with distance and is 0 for many small or far objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from hat.data.readers.nuscenes_constants import NUSCENES_CAMERAS
from hat.data.synthetic.nuscenes_actors import Actor, plan_scene
from hat.data.synthetic.nuscenes_ground import GroundPainter
from hat.data.synthetic.nuscenes_lidar import scan_lidar
from hat.data.synthetic.nuscenes_map import token_of
from hat.data.synthetic.nuscenes_parts import actor_parts, building_parts
from hat.data.synthetic.nuscenes_render import CameraView, render_camera
from hat.data.synthetic.nuscenes_sensors import (
    camera_time_offsets,
    quaternion_from_matrix,
    rig_calibrations,
    rotation_zyx,
)
from hat.data.synthetic.nuscenes_tables import visibility_token
from hat.data.synthetic.nuscenes_world import make_world

__all__ = ["ANNOTATION_RANGE", "SceneJob", "generate_scene"]

ANNOTATION_RANGE = 60.0  # m from the ego within which objects are annotated
KEYFRAME_INTERVAL = 0.5  # s
_RENDER_RANGE = 130.0
_BUILDING_RANGE = 260.0
_LIDAR_INTENSITY = {
    "vehicle": 45.0,
    "human": 18.0,
    "movable_object.trafficcone": 85.0,
    "movable_object.barrier": 55.0,
}
_RADAR_STRENGTH = {
    "vehicle.bus.rigid": 2.2,
    "vehicle.truck": 2.0,
    "vehicle.trailer": 2.0,
    "vehicle.construction": 1.8,
    "vehicle.car": 1.3,
    "vehicle.emergency.police": 1.3,
    "vehicle.motorcycle": 0.6,
    "vehicle.bicycle": 0.3,
    "movable_object.barrier": 0.35,
    "movable_object.trafficcone": 0.12,
}


@dataclass(frozen=True)
class SceneJob:
    """What one scene needs: its name, location, log, start time and the generation options."""

    root: str
    seed: int
    name: str
    location: str
    log_token: str
    logfile: str
    start_us: int
    num_frames: int
    width: int
    height: int


def _scene_rng(seed: int, name: str, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, int(name.split("-")[1]), stream]))


def _attribute(actor: Actor, speed: float) -> list[str]:
    cat, role = actor.category, actor.role
    if cat in ("vehicle.bicycle", "vehicle.motorcycle"):
        return ["cycle.without_rider" if role == "parked" else "cycle.with_rider"]
    if cat.startswith("vehicle"):
        if role == "parked":
            return ["vehicle.parked"]
        return ["vehicle.moving" if speed > 0.3 else "vehicle.stopped"]
    if cat.startswith("human"):
        if role == "sit":
            return ["pedestrian.sitting_lying_down"]
        return ["pedestrian.moving" if speed > 0.3 else "pedestrian.standing"]
    return []


def _lidar_intensity(category: str) -> float:
    for prefix, value in _LIDAR_INTENSITY.items():
        if category.startswith(prefix):
            return value
    return 30.0


def _pose_matrix(xy: np.ndarray, yaw: float, z: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    return rotation_zyx(yaw), np.array([xy[0], xy[1], z])


def generate_scene(job: SceneJob) -> dict[str, list[dict]]:
    """Write the scene's images and point clouds under ``job.root``; return its table rows."""
    world = make_world(job.location, job.seed)
    duration = (job.num_frames - 1) * KEYFRAME_INTERVAL
    plan = plan_scene(world, _scene_rng(job.seed, job.name, 0), duration + 0.2)
    ground = GroundPainter(world, job.seed)
    buildings = building_parts(world.buildings, job.seed)
    calib = rig_calibrations(_scene_rng(job.seed, job.name, 1), (job.width, job.height))
    rng = _scene_rng(job.seed, job.name, 2)
    offsets = camera_time_offsets()
    sun = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), 1.0])
    sun /= np.linalg.norm(sun)
    sky_tone = float(rng.uniform(0.9, 1.05))

    times = 0.1 + np.arange(job.num_frames) * KEYFRAME_INTERVAL
    times += rng.uniform(-0.004, 0.004, job.num_frames) * (np.arange(job.num_frames) > 0)
    channels = ["LIDAR_TOP", *NUSCENES_CAMERAS]
    chan_times = {c: times + (offsets[c] if c in offsets else 0.0) for c in channels}
    all_times = np.concatenate([chan_times[c] for c in channels])
    ego_xy, ego_yaw = plan.ego.pose(all_times)
    poses = [a.pose(all_times) for a in plan.actors]  # (xy (T, 2), yaw (T,))
    n = job.num_frames

    def at(channel: str, k: int) -> int:
        return channels.index(channel) * n + k

    # which actors are annotated: within range at some key frame -> a contiguous run
    lidar_idx = np.arange(n)
    dist = (
        np.stack([np.hypot(*(p[0][lidar_idx] - ego_xy[lidar_idx]).T) for p in poses])
        if poses
        else np.zeros((0, n))
    )
    runs = {}
    for i in range(len(plan.actors)):
        inside = np.flatnonzero(dist[i] <= ANNOTATION_RANGE)
        if len(inside):
            runs[i] = (int(inside[0]), int(inside[-1]))

    scene_token = token_of(job.seed, job.name, "scene")
    sample_tokens = [token_of(job.seed, job.name, "sample", k) for k in range(n)]
    tables: dict[str, list[dict]] = {
        k: []
        for k in (
            "calibrated_sensor",
            "ego_pose",
            "sample",
            "sample_data",
            "sample_annotation",
            "instance",
        )
    }
    calib_tokens = {}
    for c in channels:
        tok = token_of(job.seed, job.logfile, "calibrated_sensor", c)
        calib_tokens[c] = tok
        tables["calibrated_sensor"].append(
            {"token": tok, "sensor_token": token_of("sensor", c), **calib[c].record()}
        )

    def ts(channel: str, k: int) -> int:
        return job.start_us + int(round(chan_times[channel][k] * 1e6))

    ann_tokens: dict[tuple[int, int], str] = {
        (i, k): token_of(job.seed, job.name, "ann", i, k)
        for i, (a, b) in runs.items()
        for k in range(a, b + 1)
    }
    for k in range(n):
        tables["sample"].append(
            {
                "token": sample_tokens[k],
                "timestamp": ts("LIDAR_TOP", k),
                "prev": sample_tokens[k - 1] if k > 0 else "",
                "next": sample_tokens[k + 1] if k < n - 1 else "",
                "scene_token": scene_token,
            }
        )
        visible = np.zeros(len(plan.actors))
        cover = np.zeros(len(plan.actors))
        for channel in channels:
            j = at(channel, k)
            e_rot, e_pos = _pose_matrix(ego_xy[j], float(ego_yaw[j]))
            pose_tok = token_of(job.seed, job.name, "ego_pose", channel, k)
            tables["ego_pose"].append(
                {
                    "token": pose_tok,
                    "timestamp": ts(channel, k),
                    "rotation": quaternion_from_matrix(e_rot),
                    "translation": [float(v) for v in e_pos],
                }
            )
            near = [
                i
                for i in range(len(plan.actors))
                if np.hypot(*(poses[i][0][j] - ego_xy[j])) < _RENDER_RANGE
            ]
            cal = calib[channel]
            s_rot, s_pos = e_rot @ cal.rotation, e_rot @ cal.translation + e_pos
            if channel == "LIDAR_TOP":
                boxes = [
                    (
                        np.array([*poses[i][0][j], plan.actors[i].size[2] / 2]),
                        float(poses[i][1][j]),
                        np.array(
                            [plan.actors[i].size[1], plan.actors[i].size[0], plan.actors[i].size[2]]
                        )
                        / 2,
                        _lidar_intensity(plan.actors[i].category),
                    )
                    for i in near
                ]
                boxes += [
                    (b.centre, 0.0, np.array([b.size[1], b.size[0], b.size[2]]) / 2, 25.0)
                    for b in buildings
                    if np.hypot(*(b.centre[:2] - ego_xy[j])) < 90.0 + b.size[1]
                ]
                scan = scan_lidar(
                    s_rot, s_pos, boxes, ground, _scene_rng(job.seed, job.name, 10 + k)
                )
                lidar_hits = {i: int(scan.hits[m]) for m, i in enumerate(near)}
                rel = _write_points(job, channel, ts(channel, k), scan.points)
                size = (0, 0)
            else:
                cubs = []
                for i in near:
                    a = plan.actors[i]
                    cubs += actor_parts(
                        a.category,
                        a.role,
                        a.size,
                        poses[i][0][j],
                        float(poses[i][1][j]),
                        a.colour,
                        a.accent,
                        i,
                    )
                cubs += [
                    b for b in buildings if np.hypot(*(b.centre[:2] - ego_xy[j])) < _BUILDING_RANGE
                ]
                view = CameraView(cal.intrinsic, s_rot, s_pos, job.width, job.height)
                result = render_camera(view, ground, cubs, sun, sky_tone)
                for i, c in result.visible.items():
                    visible[i] += c
                for i, c in result.footprint.items():
                    cover[i] += c
                rel = _write_jpeg(job, channel, ts(channel, k), result.image)
                size = (job.width, job.height)
            sd_tok = token_of(job.seed, job.name, "sample_data", channel, k)
            tables["sample_data"].append(
                {
                    "token": sd_tok,
                    "sample_token": sample_tokens[k],
                    "ego_pose_token": pose_tok,
                    "calibrated_sensor_token": calib_tokens[channel],
                    "timestamp": ts(channel, k),
                    "fileformat": "pcd" if channel == "LIDAR_TOP" else "jpg",
                    "is_key_frame": True,
                    "height": size[1],
                    "width": size[0],
                    "filename": rel,
                    "prev": token_of(job.seed, job.name, "sample_data", channel, k - 1)
                    if k
                    else "",
                    "next": (
                        token_of(job.seed, job.name, "sample_data", channel, k + 1)
                        if k < n - 1
                        else ""
                    ),
                }
            )
        ego_k = ego_xy[at("LIDAR_TOP", k)]
        for i, (a0, a1) in runs.items():
            if not a0 <= k <= a1:
                continue
            actor = plan.actors[i]
            j = at("LIDAR_TOP", k)
            xy, yaw = poses[i][0][j], float(poses[i][1][j])
            speed = float(actor.speed(np.array([times[k]]))[0])
            frac = visible[i] / cover[i] if cover[i] > 0 else 0.0
            d = float(np.hypot(*(xy - ego_k)))
            strength = _RADAR_STRENGTH.get(actor.category, 0.05)
            lam = 0.0 if d > 75.0 else strength * 30.0 / max(d, 5.0) * (0.4 if frac < 0.4 else 1.0)
            tables["sample_annotation"].append(
                {
                    "token": ann_tokens[(i, k)],
                    "sample_token": sample_tokens[k],
                    "instance_token": token_of(job.seed, job.name, "instance", i),
                    "visibility_token": visibility_token(frac),
                    "attribute_tokens": [
                        token_of("attribute", a) for a in _attribute(actor, speed)
                    ],
                    "translation": [float(xy[0]), float(xy[1]), actor.size[2] / 2],
                    "size": [float(v) for v in actor.size],
                    "rotation": quaternion_from_matrix(rotation_zyx(yaw)),
                    "prev": ann_tokens[(i, k - 1)] if k > a0 else "",
                    "next": ann_tokens[(i, k + 1)] if k < a1 else "",
                    "num_lidar_pts": lidar_hits.get(i, 0),
                    "num_radar_pts": int(rng.poisson(lam)),
                }
            )
    for i, (a0, a1) in runs.items():
        tables["instance"].append(
            {
                "token": token_of(job.seed, job.name, "instance", i),
                "category_token": token_of("category", plan.actors[i].category),
                "nbr_annotations": a1 - a0 + 1,
                "first_annotation_token": ann_tokens[(i, a0)],
                "last_annotation_token": ann_tokens[(i, a1)],
            }
        )
    tables["scene"] = [
        {
            "token": scene_token,
            "log_token": job.log_token,
            "nbr_samples": n,
            "first_sample_token": sample_tokens[0],
            "last_sample_token": sample_tokens[-1],
            "name": job.name,
            "description": plan.description,
        }
    ]
    return tables


def _sample_path(job: SceneJob, channel: str, timestamp: int, ext: str) -> tuple[str, str]:
    rel = f"samples/{channel}/{job.logfile}__{channel}__{timestamp}{ext}"
    path = os.path.join(job.root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return rel, path


def _write_jpeg(job: SceneJob, channel: str, timestamp: int, rgb: np.ndarray) -> str:
    rel, path = _sample_path(job, channel, timestamp, ".jpg")
    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise OSError(f"could not encode {path}")
    with open(path, "wb") as f:
        f.write(data.tobytes())
    return rel


def _write_points(job: SceneJob, channel: str, timestamp: int, points: np.ndarray) -> str:
    rel, path = _sample_path(job, channel, timestamp, ".pcd.bin")
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(points, dtype="<f4").tobytes())
    return rel
