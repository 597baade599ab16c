"""A tiny hand-made nuScenes dataroot in the real layout, and fixtures over it.

``v1.0-mini`` with three scenes: scene-0061 and scene-0553 (``mini_train``, 3 and 2 key frames)
and scene-0103 (``mini_val``, 3 key frames); 6 cameras of 48x32 JPEGs, LIDAR_TOP and a radar key
frame per sample, plus a non-key camera frame (a sweep whose file does not exist: the reader must
ignore it). Annotations cover a moving car seen in all frames of scene-0061 (centred and
one-sided velocity), a pedestrian seen once (no velocity), a barrier without attribute, an animal
(not a detection class), and a bus seen in the two frames of scene-0553, which are 2 s apart (no
velocity: more than the devkit's 1.5 s). All numbers are chosen here, so tests can check them.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from hat.data.readers.nuscenes_constants import ATTRIBUTE_NAMES, NUSCENES_CAMERAS

VERSION = "v1.0-mini"
IMG_W, IMG_H = 48, 32
LOCATIONS = (
    "boston-seaport",
    "singapore-onenorth",
    "singapore-hollandvillage",
    "singapore-queenstown",
)
# scene name -> (log index, sample timestamps in µs)
SCENES = {
    "scene-0061": (0, [1_000_000, 1_500_000, 2_000_000]),
    "scene-0553": (0, [5_000_000, 7_000_000]),
    "scene-0103": (1, [9_000_000, 9_500_000, 10_000_000]),
}
DIVIDER_Y = 201.0  # the Boston map's one lane divider, along x
CATEGORIES = (
    "vehicle.car",
    "human.pedestrian.adult",
    "movable_object.barrier",
    "animal",
    "vehicle.bus.rigid",
)


def quat_z(yaw: float) -> list[float]:
    """The quaternion (w, x, y, z) of a rotation by ``yaw`` about z."""
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


def ego_pose_at(timestamp: int) -> tuple[list[float], list[float]]:
    """The fixture's ego trajectory: 5 m/s along a slowly turning heading."""
    t = timestamp * 1e-6
    return [100.0 + 5.0 * t, 200.0 + 0.5 * t, 0.0], quat_z(0.1 + 0.05 * t)


def car_position(timestamp: int) -> list[float]:
    """The car of scene-0061, accelerating along x (global): x = 110 + 3 t + t^2, y = 203 + t."""
    t = timestamp * 1e-6
    return [110.0 + 3.0 * t + t * t, 203.0 + 1.0 * t, 1.0]


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.repeat(np.repeat(rng.integers(0, 255, (4, 6, 3), np.uint8), 8, 0), 8, 1)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_tiny_nuscenes(root: str) -> str:
    """Write the dataroot at ``root``; return it."""
    tables: dict[str, list[dict]] = {
        name: []
        for name in (
            "category attribute visibility instance sensor calibrated_sensor ego_pose log scene "
            "sample sample_data sample_annotation map"
        ).split()
    }
    tables["category"] = [
        {"token": f"cat{i}", "name": n, "description": ""} for i, n in enumerate(CATEGORIES)
    ]
    tables["attribute"] = [
        {"token": f"attr{i}", "name": n, "description": ""} for i, n in enumerate(ATTRIBUTE_NAMES)
    ]
    tables["visibility"] = [
        {"token": str(i + 1), "level": lvl, "description": ""}
        for i, lvl in enumerate(["v0-40", "v40-60", "v60-80", "v80-100"])
    ]
    channels = [*NUSCENES_CAMERAS, "LIDAR_TOP", "RADAR_FRONT"]
    for i, channel in enumerate(channels):
        modality = "camera" if channel.startswith("CAM") else channel.split("_")[0].lower()
        tables["sensor"].append({"token": f"sensor{i}", "channel": channel, "modality": modality})
        yaw = (0.0, 0.9, -0.9, 2.2, math.pi, -2.2)[i] if i < 6 else 0.0
        cam_rot = quat_z(yaw - math.pi / 2)  # camera z forward: roughly x-right, z-forward
        intrinsic = [[40.0 + i, 0.0, 24.0], [0.0, 40.0 + i, 16.0], [0.0, 0.0, 1.0]] if i < 6 else []
        tables["calibrated_sensor"].append(
            {
                "token": f"calib{i}",
                "sensor_token": f"sensor{i}",
                "translation": [1.0 + 0.1 * i, 0.2 * i - 0.5, 1.5],
                "rotation": cam_rot if i < 6 else [1.0, 0.0, 0.0, 0.0],
                "camera_intrinsic": intrinsic,
            }
        )
    logs = [
        ("n015-2018-07-24-11-22-45+0800", LOCATIONS[0]),
        ("n008-2018-08-01-15-16-36-0400", LOCATIONS[1]),
    ]
    for i, (logfile, location) in enumerate(logs):
        tables["log"].append(
            {
                "token": f"log{i}",
                "logfile": logfile,
                "vehicle": "n015",
                "date_captured": "2018-07-24",
                "location": location,
            }
        )
    tables["map"].append(
        {
            "token": "map0",
            "log_tokens": ["log0", "log1"],
            "category": "semantic_prior",
            "filename": "maps/map0.png",
        }
    )

    files: dict[str, bytes] = {}
    for s_idx, (scene, (log_idx, stamps)) in enumerate(SCENES.items()):
        tokens = [f"s{s_idx}_{k}" for k in range(len(stamps))]
        tables["scene"].append(
            {
                "token": f"scene{s_idx}",
                "name": scene,
                "description": "",
                "log_token": f"log{log_idx}",
                "nbr_samples": len(stamps),
                "first_sample_token": tokens[0],
                "last_sample_token": tokens[-1],
            }
        )
        logfile = logs[log_idx][0]
        for k, (token, ts) in enumerate(zip(tokens, stamps)):
            tables["sample"].append(
                {
                    "token": token,
                    "timestamp": ts,
                    "scene_token": f"scene{s_idx}",
                    "prev": tokens[k - 1] if k else "",
                    "next": tokens[k + 1] if k + 1 < len(tokens) else "",
                }
            )
            for c_idx, channel in enumerate(channels):
                stamp = ts + 7_000 * c_idx  # each sensor fires a little after the sample time
                pose_token = f"pose_{token}_{c_idx}"
                translation, rotation = ego_pose_at(stamp)
                tables["ego_pose"].append(
                    {
                        "token": pose_token,
                        "timestamp": stamp,
                        "translation": translation,
                        "rotation": rotation,
                    }
                )
                camera = c_idx < 6
                ext = "jpg" if camera else ("pcd.bin" if channel == "LIDAR_TOP" else "pcd")
                filename = f"samples/{channel}/{logfile}__{channel}__{stamp}.{ext}"
                tables["sample_data"].append(
                    {
                        "token": f"sd_{token}_{c_idx}",
                        "sample_token": token,
                        "ego_pose_token": pose_token,
                        "calibrated_sensor_token": f"calib{c_idx}",
                        "filename": filename,
                        "fileformat": ext.split(".")[0],
                        "width": IMG_W if camera else 0,
                        "height": IMG_H if camera else 0,
                        "timestamp": stamp,
                        "is_key_frame": True,
                        "prev": "",
                        "next": "",
                    }
                )
                files[filename] = (
                    _jpeg(1000 * s_idx + 10 * k + c_idx)
                    if camera
                    else np.zeros((4, 5), np.float32).tobytes()
                )
            # a non-key CAM_FRONT sweep (its file is not written)
            sweep_stamp = ts + 250_000
            tables["ego_pose"].append(
                {
                    "token": f"pose_{token}_sweep",
                    "timestamp": sweep_stamp,
                    "translation": ego_pose_at(sweep_stamp)[0],
                    "rotation": ego_pose_at(sweep_stamp)[1],
                }
            )
            tables["sample_data"].append(
                {
                    "token": f"sd_{token}_sweep",
                    "sample_token": token,
                    "ego_pose_token": f"pose_{token}_sweep",
                    "calibrated_sensor_token": "calib1",
                    "filename": f"sweeps/CAM_FRONT/{logfile}__CAM_FRONT__{sweep_stamp}.jpg",
                    "fileformat": "jpg",
                    "width": IMG_W,
                    "height": IMG_H,
                    "timestamp": sweep_stamp,
                    "is_key_frame": False,
                    "prev": "",
                    "next": "",
                }
            )

    def instance(token: str, category: int, anns: list[str]) -> None:
        tables["instance"].append(
            {
                "token": token,
                "category_token": f"cat{category}",
                "nbr_annotations": len(anns),
                "first_annotation_token": anns[0],
                "last_annotation_token": anns[-1],
            }
        )

    def annotate(token, sample, inst, translation, size, yaw, attrs, vis, lidar, radar, prev, nxt):
        tables["sample_annotation"].append(
            {
                "token": token,
                "sample_token": sample,
                "instance_token": inst,
                "attribute_tokens": attrs,
                "visibility_token": vis,
                "translation": translation,
                "size": size,
                "rotation": quat_z(yaw),
                "num_lidar_pts": lidar,
                "num_radar_pts": radar,
                "prev": prev,
                "next": nxt,
            }
        )

    car = [f"car_{k}" for k in range(3)]
    for k, ts in enumerate(SCENES["scene-0061"][1]):
        annotate(
            car[k],
            f"s0_{k}",
            "inst_car",
            car_position(ts),
            [1.9, 4.6, 1.6],
            0.3 + 0.01 * k,
            ["attr0"],
            "4",
            120 - k,
            3,
            car[k - 1] if k else "",
            car[k + 1] if k < 2 else "",
        )
    instance("inst_car", 0, car)
    annotate(
        "ped_0",
        "s0_1",
        "inst_ped",
        [112.0, 199.0, 0.9],
        [0.6, 0.7, 1.8],
        -1.2,
        ["attr3"],
        "2",
        15,
        0,
        "",
        "",
    )
    instance("inst_ped", 1, ["ped_0"])
    annotate(
        "barrier_0",
        "s0_0",
        "inst_barrier",
        [104.0, 196.0, 0.5],
        [2.5, 0.4, 1.0],
        2.8,
        [],
        "3",
        0,
        0,
        "",
        "",
    )
    instance("inst_barrier", 2, ["barrier_0"])
    annotate(
        "dog_0",
        "s0_0",
        "inst_dog",
        [106.0, 197.0, 0.3],
        [0.3, 0.8, 0.5],
        0.0,
        [],
        "1",
        4,
        0,
        "",
        "",
    )
    instance("inst_dog", 3, ["dog_0"])
    bus = ["bus_0", "bus_1"]
    for k in range(2):
        annotate(
            bus[k],
            f"s1_{k}",
            "inst_bus",
            [130.0 + 2 * k, 205.0, 1.7],
            [2.9, 11.0, 3.4],
            1.5,
            ["attr1"],
            "4",
            300,
            12,
            "bus_0" if k else "",
            "" if k else "bus_1",
        )
    instance("inst_bus", 4, bus)
    for k in range(2):  # scene-0103: a car in its first two frames, stopped
        annotate(
            f"val_car_{k}",
            f"s2_{k}",
            "inst_val_car",
            [95.0, 190.0, 0.8],
            [1.8, 4.2, 1.5],
            -0.4,
            ["attr2"],
            "1",
            0 if k else 40,
            0,
            "val_car_0" if k else "",
            "" if k else "val_car_1",
        )
    instance("inst_val_car", 0, ["val_car_0", "val_car_1"])

    version_dir = os.path.join(root, VERSION)
    os.makedirs(version_dir, exist_ok=True)
    for name, rows in tables.items():
        with open(os.path.join(version_dir, f"{name}.json"), "w") as f:
            json.dump(rows, f)
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(root, "maps", "expansion"), exist_ok=True)
    Image.new("L", (8, 8)).save(os.path.join(root, "maps", "map0.png"))
    for location in LOCATIONS:
        with open(os.path.join(root, "maps", "expansion", f"{location}.json"), "w") as f:
            json.dump(_map(location), f)
    return root


def _map(location: str) -> dict:
    """A map expansion without geometry, but for a lane divider along y = 201 in Boston."""
    layers = (
        "polygon line node drivable_area road_segment road_block lane ped_crossing walkway "
        "stop_line carpark_area road_divider lane_divider traffic_light lane_connector"
    )
    out: dict = {"version": "1.3", "canvas_edge": [400.0, 400.0]}
    out.update({name: [] for name in layers.split()})
    out.update({"arcline_path_3": {}, "connectivity": {}})
    if location == LOCATIONS[0]:
        out["node"] = [{"token": "n0", "x": 90.0, "y": DIVIDER_Y}, {"token": "n1", "x": 140.0,
                       "y": DIVIDER_Y}]  # fmt: skip
        out["line"] = [{"token": "l0", "node_tokens": ["n0", "n1"]}]
        out["lane_divider"] = [{"token": "ld0", "line_token": "l0", "lane_divider_segments": []}]
    return out


@pytest.fixture(scope="session")
def nuscenes_root(tmp_path_factory) -> str:
    """A read-only tiny nuScenes dataroot (see the module docstring)."""
    return write_tiny_nuscenes(str(tmp_path_factory.mktemp("nuscenes") / "nuscenes"))


@pytest.fixture
def nuscenes_copy(nuscenes_root, tmp_path) -> str:
    """A writable copy of ``nuscenes_root`` (for tests that damage files)."""
    dst = str(tmp_path / "nuscenes")
    shutil.copytree(nuscenes_root, dst)
    return dst
