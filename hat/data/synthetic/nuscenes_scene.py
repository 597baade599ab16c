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
from hat.data.synthetic.nuscenes_lidar import count_in_boxes, scan_lidar
from hat.data.synthetic.nuscenes_map import token_of
from hat.data.synthetic.nuscenes_parts import actor_parts, building_parts
from hat.data.synthetic.nuscenes_render import CameraView, RenderResult, render_camera
from hat.data.synthetic.nuscenes_sensors import (
    camera_time_offsets,
    quaternion_from_matrix,
    rig_calibrations,
    rotation_zyx,
)
from hat.data.synthetic.nuscenes_tables import visibility_token
from hat.data.synthetic.nuscenes_world import make_world

__all__ = ["ANNOTATION_RANGE", "SceneGenerator", "SceneJob", "generate_scene"]

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


class SceneGenerator:
    """One scene's plan and sensors; :meth:`run` writes it, :meth:`render` draws one camera."""

    def __init__(self, job: SceneJob) -> None:
        self.job = job
        world = make_world(job.location, job.seed)
        n = job.num_frames
        self.plan = plan_scene(
            world, _scene_rng(job.seed, job.name, 0), (n - 1) * KEYFRAME_INTERVAL + 0.2
        )
        self.ground = GroundPainter(world, job.seed)
        self.buildings = building_parts(world, job.seed)
        self.calib = rig_calibrations(_scene_rng(job.seed, job.name, 1), (job.width, job.height))
        self.rng = _scene_rng(job.seed, job.name, 2)
        sun = np.array([self.rng.uniform(-0.5, 0.5), self.rng.uniform(-0.5, 0.5), 1.0])
        self.sun = sun / np.linalg.norm(sun)
        self.sky_tone = float(self.rng.uniform(0.9, 1.05))
        times = 0.1 + np.arange(n) * KEYFRAME_INTERVAL
        times += self.rng.uniform(-0.004, 0.004, n) * (np.arange(n) > 0)
        self.times = times
        offsets = camera_time_offsets()
        self.channels = ["LIDAR_TOP", *NUSCENES_CAMERAS]
        self.chan_times = {c: times + offsets.get(c, 0.0) for c in self.channels}
        all_times = np.concatenate([self.chan_times[c] for c in self.channels])
        self.ego_xy, self.ego_yaw = self.plan.ego.pose(all_times)
        self.poses = [a.pose(all_times) for a in self.plan.actors]  # (xy (T, 2), yaw (T,))
        # annotated actors: within range at some key frame -> one contiguous run of samples
        self.runs: dict[int, tuple[int, int]] = {}
        ego = self.ego_xy[:n]
        for i, (xy, _) in enumerate(self.poses):
            inside = np.flatnonzero(np.hypot(*(xy[:n] - ego).T) <= ANNOTATION_RANGE)
            if len(inside):
                self.runs[i] = (int(inside[0]), int(inside[-1]))

    # ---------------------------------------------------------------- tokens and times
    def token(self, *parts) -> str:
        return token_of(self.job.seed, self.job.name, *parts)

    def instance_token(self, actor: int) -> str:
        return self.token("instance", actor)

    def timestamp(self, channel: str, k: int) -> int:
        return self.job.start_us + int(round(self.chan_times[channel][k] * 1e6))

    def _index(self, channel: str, k: int) -> int:
        return self.channels.index(channel) * self.job.num_frames + k

    def _sensor_pose(self, channel: str, k: int):
        j = self._index(channel, k)
        e_rot, e_pos = _pose_matrix(self.ego_xy[j], float(self.ego_yaw[j]))
        cal = self.calib[channel]
        return j, e_rot, e_pos, e_rot @ cal.rotation, e_rot @ cal.translation + e_pos

    def _near(self, j: int) -> list[int]:
        ego = self.ego_xy[j]
        return [
            i for i, (xy, _) in enumerate(self.poses) if np.hypot(*(xy[j] - ego)) < _RENDER_RANGE
        ]

    # ---------------------------------------------------------------- sensors
    def render(self, k: int, channel: str) -> RenderResult:
        """The image of camera ``channel`` at key frame ``k`` (owners are actor indices)."""
        j, _, _, s_rot, s_pos = self._sensor_pose(channel, k)
        cubs = []
        for i in self._near(j):
            a = self.plan.actors[i]
            xy, yaw = self.poses[i][0][j], float(self.poses[i][1][j])
            cubs += actor_parts(a.category, a.role, a.size, xy, yaw, a.colour, a.accent, i)
        ego = self.ego_xy[j]
        cubs += [b for b in self.buildings if np.hypot(*(b.centre[:2] - ego)) < _BUILDING_RANGE]
        view = CameraView(
            self.calib[channel].intrinsic, s_rot, s_pos, self.job.width, self.job.height
        )
        return render_camera(view, self.ground, cubs, self.sun, self.sky_tone)

    def scan(self, k: int) -> tuple[np.ndarray, dict[int, int]]:
        """The LIDAR_TOP points of key frame ``k`` and the returns on each nearby actor."""
        j, _, _, s_rot, s_pos = self._sensor_pose("LIDAR_TOP", k)
        near = self._near(j)
        boxes = []
        for i in near:
            a = self.plan.actors[i]
            w, length, h = a.size
            centre = np.array([*self.poses[i][0][j], h / 2])
            boxes.append(
                (
                    centre,
                    float(self.poses[i][1][j]),
                    np.array([length, w, h]) / 2,
                    _lidar_intensity(a.category),
                )
            )
        ego = self.ego_xy[j]
        for b in self.buildings:
            if np.hypot(*(b.centre[:2] - ego)) < 90.0 + b.size[1]:
                boxes.append(
                    (b.centre, b.yaw, np.array([b.size[1], b.size[0], b.size[2]]) / 2, 25.0)
                )
        result = scan_lidar(
            s_rot, s_pos, boxes, self.ground, _scene_rng(self.job.seed, self.job.name, 10 + k)
        )
        counts = count_in_boxes(result.world, [b[:3] for b in boxes[: len(near)]])
        return result.points, dict(zip(near, counts, strict=True))

    # ---------------------------------------------------------------- everything
    def run(self) -> dict[str, list[dict]]:
        """Write the scene's images and point clouds under ``job.root``; return its table rows."""
        job, plan, n = self.job, self.plan, self.job.num_frames
        scene_token = self.token("scene")
        sample_tokens = [self.token("sample", k) for k in range(n)]
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
        for c in self.channels:
            tok = token_of(job.seed, job.logfile, "calibrated_sensor", c)
            calib_tokens[c] = tok
            tables["calibrated_sensor"].append(
                {"token": tok, "sensor_token": token_of("sensor", c), **self.calib[c].record()}
            )
        ann_tokens = {
            (i, k): self.token("ann", i, k)
            for i, (a, b) in self.runs.items()
            for k in range(a, b + 1)
        }
        for k in range(n):
            tables["sample"].append(
                {
                    "token": sample_tokens[k],
                    "timestamp": self.timestamp("LIDAR_TOP", k),
                    "prev": sample_tokens[k - 1] if k > 0 else "",
                    "next": sample_tokens[k + 1] if k < n - 1 else "",
                    "scene_token": scene_token,
                }
            )
            visible = np.zeros(len(plan.actors))
            cover = np.zeros(len(plan.actors))
            lidar_hits: dict[int, int] = {}
            for channel in self.channels:
                j, e_rot, e_pos, _, _ = self._sensor_pose(channel, k)
                ts = self.timestamp(channel, k)
                pose_tok = self.token("ego_pose", channel, k)
                tables["ego_pose"].append(
                    {
                        "token": pose_tok,
                        "timestamp": ts,
                        "rotation": quaternion_from_matrix(e_rot),
                        "translation": [float(v) for v in e_pos],
                    }
                )
                if channel == "LIDAR_TOP":
                    points, lidar_hits = self.scan(k)
                    rel = _write_points(job, channel, ts, points)
                    size = (0, 0)
                else:
                    result = self.render(k, channel)
                    for i, c in result.visible.items():
                        visible[i] += c
                    for i, c in result.footprint.items():
                        cover[i] += c
                    rel = _write_jpeg(job, channel, ts, result.image)
                    size = (job.width, job.height)
                tables["sample_data"].append(
                    {
                        "token": self.token("sample_data", channel, k),
                        "sample_token": sample_tokens[k],
                        "ego_pose_token": pose_tok,
                        "calibrated_sensor_token": calib_tokens[channel],
                        "timestamp": ts,
                        "fileformat": "pcd" if channel == "LIDAR_TOP" else "jpg",
                        "is_key_frame": True,
                        "height": size[1],
                        "width": size[0],
                        "filename": rel,
                        "prev": self.token("sample_data", channel, k - 1) if k else "",
                        "next": self.token("sample_data", channel, k + 1) if k < n - 1 else "",
                    }
                )
            ego_k = self.ego_xy[self._index("LIDAR_TOP", k)]
            for i, (a0, a1) in self.runs.items():
                if not a0 <= k <= a1:
                    continue
                actor = plan.actors[i]
                j = self._index("LIDAR_TOP", k)
                xy, yaw = self.poses[i][0][j], float(self.poses[i][1][j])
                speed = float(actor.speed(np.array([self.times[k]]))[0])
                frac = visible[i] / cover[i] if cover[i] > 0 else 0.0
                d = float(np.hypot(*(xy - ego_k)))
                strength = _RADAR_STRENGTH.get(actor.category, 0.05)
                lam = (
                    0.0
                    if d > 75.0
                    else strength * 30.0 / max(d, 5.0) * (0.4 if frac < 0.4 else 1.0)
                )
                tables["sample_annotation"].append(
                    {
                        "token": ann_tokens[(i, k)],
                        "sample_token": sample_tokens[k],
                        "instance_token": self.instance_token(i),
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
                        "num_radar_pts": int(self.rng.poisson(lam)),
                    }
                )
        for i, (a0, a1) in self.runs.items():
            tables["instance"].append(
                {
                    "token": self.instance_token(i),
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


def generate_scene(job: SceneJob) -> dict[str, list[dict]]:
    """Write one scene's files under ``job.root``; return its rows of the tables."""
    return SceneGenerator(job).run()


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
