"""A synthetic nuScenes in the real on-disk layout (tables, samples, maps, map expansion).

What it models: four locations (Boston keeps right, the three Singapore maps keep left), each a
grid of straight two-way roads (turned by its own angle in the global frame) with two lanes per
direction, shoulders, curbs, walkways, zebra crossings and stop lines at every junction, parking
lots and buildings in the blocks. A scene
is ~20 s (40 key frames at 2 Hz by default) of the ego driving one road (cruising,
accelerating, braking to a stop or waiting) among lane traffic, parked vehicles, road works,
pedestrians, cyclists, cones and barriers (all 10 detection classes plus police cars, debris,
pushable objects, animals and bicycle racks), every object moving analytically so instances are
consistent across frames. Each key frame has a LIDAR_TOP sweep (32 beams, ray-cast) and 6
camera images rendered with a z-buffer (shaded cuboids over the textured ground that shows the
road markings) with nuScenes-like calibrations; objects within 60 m are annotated, with the
visible fraction over the images (visibility bins), the lidar returns inside the box and a
radar count falling with distance (many small, far or hidden objects have no points, so the
detection benchmark's filters have work). Rendering is vectorised numpy/OpenCV: about 1.5-2 s
per key frame at 1600x900 on one core (``benchmarks/bench_nuscenes_synthetic.py``); smaller
images (``height``/``width``) make tiny sets for tests.

Written layout (as the real release; a real download's readers load it unchanged)::

    <out>/samples/CAM_*/<logfile>__CAM_*__<timestamp>.jpg       (6 cameras, key frames)
    <out>/samples/LIDAR_TOP/<logfile>__LIDAR_TOP__<timestamp>.pcd.bin  (float32 x5 per point)
    <out>/maps/<token>.png                                       (semantic prior, 0.1 m/px)
    <out>/maps/expansion/<location>.json                          (all 4 locations, v1.3)
    <out>/<version>/{attribute,calibrated_sensor,category,ego_pose,instance,log,map,sample,
                     sample_annotation,sample_data,scene,sensor,visibility}.json
    <out>/README_synthetic.txt                                    (marks a complete tree)

Scene names are taken from the official split lists (``train``/``val`` for v1.0-trainval,
``mini_train``/``mini_val`` for v1.0-mini). The tree is built in a temporary sibling directory
and renamed into place when complete; the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
from tqdm import tqdm

from hat.data.readers.nuscenes_splits import scene_names
from hat.data.synthetic.nuscenes_map import token_of, write_map_expansion, write_semantic_prior
from hat.data.synthetic.nuscenes_scene import SceneJob, generate_scene
from hat.data.synthetic.nuscenes_sensors import FULL_SIZE
from hat.data.synthetic.nuscenes_tables import (
    TABLE_NAMES,
    attribute_table,
    category_table,
    log_record,
    sensor_table,
    visibility_table,
)
from hat.data.synthetic.nuscenes_world import LOCATIONS, make_world
from hat.utils.process_map import ProcessMap

__all__ = ["README_NAME", "VERSION_SPLITS", "make_nuscenes"]

README_NAME = "README_synthetic.txt"
VERSION_SPLITS = {"v1.0-trainval": ("train", "val"), "v1.0-mini": ("mini_train", "mini_val")}
_LOCATION_WEIGHTS = (0.45, 0.2, 0.15, 0.2)


def _choose_scenes(seed: int, version: str, counts: dict[str, int]) -> list[tuple[str, str]]:
    """(split, scene name) pairs: a seeded choice from each official split, sorted by name."""
    out = []
    for split, count in counts.items():
        names = scene_names(split)
        if count > len(names):
            raise ValueError(
                f"{version} split {split!r} has {len(names)} scenes; {count} were asked for"
            )
        rng = np.random.default_rng([seed, len(names)])
        picked = sorted(rng.choice(names, size=count, replace=False).tolist())
        out += [(split, name) for name in picked]
    return out


def _jobs(out: str, seed: int, chosen, frames: int, width: int, height: int):
    """The log record and the generation job of each chosen scene."""
    logs, jobs = [], []
    for _, name in chosen:
        rng = np.random.default_rng([seed, int(name.split("-")[1]), 99])
        location = LOCATIONS[int(rng.choice(len(LOCATIONS), p=_LOCATION_WEIGHTS))]
        month, day = int(rng.integers(7, 10)), int(rng.integers(1, 29))
        hh, mm, ss = int(rng.integers(8, 19)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
        date, clock = f"2018-{month:02d}-{day:02d}", f"{hh:02d}-{mm:02d}-{ss:02d}"
        log = log_record(token_of(seed, name, "log"), location, date, clock)
        logs.append(log)
        # log start in µs since the epoch (the log's local clock, as nuScenes' timestamps are UTC)
        start = np.datetime64(f"{date}T{clock.replace('-', ':')}") - np.datetime64("1970-01-01")
        offset_h = -4 if location.startswith("boston") else 8
        start_us = int(start / np.timedelta64(1, "us")) - offset_h * 3_600_000_000
        start_us += int(rng.integers(0, 600)) * 1_000_000 + int(rng.integers(0, 1_000_000))
        jobs.append(
            SceneJob(
                out,
                seed,
                name,
                location,
                log["token"],
                log["logfile"],
                start_us,
                frames,
                width,
                height,
            )
        )
    return logs, jobs


def _readme(version: str, counts: dict[str, int], seed: int, frames: int, w: int, h: int) -> str:
    splits = ", ".join(f"{s} {c}" for s, c in counts.items())
    return (
        "Synthetic nuScenes (made by hat.data.synthetic.nuscenes; NOT the real dataset)\n"
        f"version {version}: {splits} scenes of {frames} key frames, {w}x{h} images, seed {seed}\n"
        "Layout as the real release: samples/CAM_*/*.jpg, samples/LIDAR_TOP/*.pcd.bin,\n"
        "maps/*.png, maps/expansion/<location>.json, <version>/<13 tables>.json\n"
        "(key frames only).\n"
    )


def make_nuscenes(
    out_dir: str,
    version: str = "v1.0-trainval",
    num_train_scenes: int = 2,
    num_val_scenes: int = 1,
    seed: int = 0,
    frames_per_scene: int = 40,
    height: int = FULL_SIZE[1],
    width: int = FULL_SIZE[0],
    num_workers: int = 0,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write a synthetic nuScenes dataroot at ``out_dir``; same arguments -> identical files.

    If ``out_dir`` already holds a complete tree made with the same arguments, nothing is
    written (``summary["skipped"] == 1``); any other existing ``out_dir`` needs ``overwrite``.
    """
    if version not in VERSION_SPLITS:
        raise ValueError(f"version must be one of {sorted(VERSION_SPLITS)}, got {version!r}")
    train_split, val_split = VERSION_SPLITS[version]
    counts = {train_split: int(num_train_scenes), val_split: int(num_val_scenes)}
    if min(counts.values()) < 0 or sum(counts.values()) == 0:
        raise ValueError(f"scene counts must be >= 0 and not all 0, got {counts}")
    if frames_per_scene < 2:
        raise ValueError(f"frames_per_scene must be >= 2, got {frames_per_scene}")
    if height < 16 or width < 32:
        raise ValueError(f"height must be >= 16 and width >= 32, got {height}x{width}")
    chosen = _choose_scenes(seed, version, counts)
    readme = _readme(version, counts, seed, frames_per_scene, width, height)
    out_dir = os.path.abspath(out_dir)
    summary = {
        "train": counts[train_split],
        "val": counts[val_split],
        "samples": 0,
        "annotations": 0,
        "skipped": 0,
    }
    if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
        if not overwrite:
            if _up_to_date(os.path.join(out_dir, README_NAME), readme):
                summary["skipped"] = 1
                return summary
            raise FileExistsError(
                f"{out_dir} already exists and is not a synthetic nuScenes tree made with these "
                "parameters; pass overwrite=True / --overwrite to replace it"
            )
    _remove_stale_partials(out_dir)
    tmp = f"{out_dir}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tables = _build(tmp, seed, version, chosen, frames_per_scene, width, height, num_workers)
        with open(os.path.join(tmp, README_NAME), "w", encoding="ascii") as f:
            f.write(readme)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["samples"] = len(tables["sample"])
    summary["annotations"] = len(tables["sample_annotation"])
    return summary


def _build(tmp, seed, version, chosen, frames, width, height, num_workers) -> dict[str, list]:
    os.makedirs(os.path.join(tmp, "maps", "expansion"))
    logs, jobs = _jobs(tmp, seed, chosen, frames, width, height)
    tables: dict[str, list[dict]] = {name: [] for name in TABLE_NAMES}
    tables["category"] = category_table()
    tables["attribute"] = attribute_table()
    tables["visibility"] = visibility_table()
    tables["sensor"] = sensor_table()
    tables["log"] = logs
    for location in LOCATIONS:
        world = make_world(location, seed)
        write_map_expansion(world, os.path.join(tmp, "maps", "expansion", f"{location}.json"))
        map_token = token_of(seed, location, "semantic_prior")
        filename = f"maps/{map_token}.png"
        write_semantic_prior(world, os.path.join(tmp, filename))
        tables["map"].append(
            {
                "token": map_token,
                "category": "semantic_prior",
                "filename": filename,
                "log_tokens": [log["token"] for log in logs if log["location"] == location],
            }
        )
    desc = f"synthetic nuScenes -> {os.path.basename(tmp)}"
    if num_workers <= 1:
        results = (generate_scene(job) for job in jobs)
        results = list(tqdm(results, total=len(jobs), desc=desc, unit="scene"))
    else:
        with ProcessMap(generate_scene, jobs, num_workers) as scenes:
            results = list(tqdm(scenes, total=len(jobs), desc=desc, unit="scene"))
    for rows in results:
        for name, records in rows.items():
            tables[name] += records
    table_dir = os.path.join(tmp, version)
    os.makedirs(table_dir)
    for name in TABLE_NAMES:
        text = "[\n" + ",\n".join(json.dumps(row) for row in tables[name]) + "\n]\n"
        with open(os.path.join(table_dir, f"{name}.json"), "w", encoding="ascii") as f:
            f.write(text)
    return tables


def _replace_dir(tmp: str, out_dir: str) -> None:
    """Move the finished ``tmp`` tree to ``out_dir`` (an old tree is removed after the move)."""
    old = None
    if os.path.lexists(out_dir):
        old = f"{out_dir}.old-{os.getpid()}"
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.remove(old)


def _remove_stale_partials(out_dir: str) -> None:
    """Remove ``<out>.partial-<pid>`` trees left by generators that died (not running ones)."""
    parent, base = os.path.split(out_dir)
    if not os.path.isdir(parent or "."):
        os.makedirs(parent, exist_ok=True)
        return
    for name in os.listdir(parent or "."):
        for marker in (".partial-", ".old-"):
            if name.startswith(base + marker) and name[len(base + marker) :].isdigit():
                pid = int(name[len(base + marker) :])
                if not _alive(pid):
                    shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _up_to_date(readme_path: str, readme: str) -> bool:
    try:
        with open(readme_path, encoding="ascii") as f:
            return f.read() == readme
    except (OSError, UnicodeDecodeError):
        return False
