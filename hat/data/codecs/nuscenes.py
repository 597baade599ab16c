"""The LMDB value schema of a nuScenes key frame, and its decoding into the dataset sample.

Each value is ``msgpack.packb`` of the dict (``f8``/``i8``: little-endian float64/int64 bytes of
the shape given; V = 6 cameras in ``NUSCENES_CAMERAS`` order, N = boxes)::

    {
        "schema": "hat.nuscenes/1",
        "sample_token": str, "scene": str, "location": str, "timestamp": int,   # µs
        "ego2global": f8 (4, 4),          # LIDAR_TOP's ego pose (CAM_FRONT's without LIDAR_TOP)
        "lidar_timestamp": int | None, "lidar_sensor2ego": f8 (4, 4) | None,
        "cam_names": [str] * V, "cam_filenames": [str] * V, "cam_timestamps": [int] * V,
        "img_shapes": [[H, W]] * V,
        "img": [bytes] * V,               # the JPEG files as stored (decoded when read)
        "intrinsics": f8 (V, 3, 3), "sensor2ego": f8 (V, 4, 4), "cam_ego2global": f8 (V, 4, 4),
        "num_boxes": N,
        "gt_boxes": f8 (N, 9),            # ego frame of "ego2global": x y z w l h yaw vx vy
        "gt_boxes_global": f8 (N, 9),     # the same in the global frame
        "gt_rotation_global": f8 (N, 4),  # the table's quaternion w x y z
        "gt_labels": i8 (N,),             # index into DETECTION_CLASSES
        "gt_attributes": [str] * N,       # "" when none
        "gt_num_lidar_pts": i8 (N,), "gt_num_radar_pts": i8 (N,), "gt_visibility": i8 (N,),
        "gt_instance_tokens": [str] * N, "gt_annotation_tokens": [str] * N,
    }

Velocities are the devkit's ``box_velocity`` (NaN when it has no estimate); the decoded sample
holds 0 there and ``gt_velocity_valid`` False.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from hat.data.codecs.arrays import frombuffer
from hat.data.codecs.record import check_schema, record_fields
from hat.data.errors import CorruptFileError
from hat.data.readers.nuscenes_boxes import BOX_DIM, boxes_in_frame
from hat.data.readers.nuscenes_layout import NuscenesFrame

__all__ = ["IMG_FORMATS", "SCHEMA", "check_jpeg", "decode_jpeg", "decode_record", "encode_frame"]

SCHEMA = "hat.nuscenes/1"
IMG_FORMATS = ("jpg",)


def _f8(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f8").tobytes()


def _i8(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<i8").tobytes()


def check_jpeg(data: bytes, width: int, height: int, where: str) -> None:
    """CorruptFileError unless ``data`` is a JPEG file of ``width`` x ``height`` (header only)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, size = img.format, img.size
    except (UnidentifiedImageError, OSError):
        raise CorruptFileError(
            f"{where}: not a readable JPEG image ({len(data)} bytes that PIL cannot identify)"
        ) from None
    if fmt != "JPEG" or size != (width, height):
        raise CorruptFileError(
            f"{where}: a {fmt} image of {size[0]}x{size[1]}, expected a JPEG of {width}x{height} "
            "(sample_data width/height)"
        )


def decode_jpeg(data: bytes | memoryview, where: str) -> np.ndarray:
    """A stored JPEG as ``(H, W, 3)`` uint8 RGB, as PIL decodes it (writable, owns its memory)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = img if img.mode == "RGB" else img.convert("RGB")
            return np.array(rgb)
    except UnidentifiedImageError:
        raise CorruptFileError(
            f"{where}: undecodable JPEG image ({len(data)} bytes that PIL cannot identify)"
        ) from None
    except OSError as exc:  # e.g. "image file is truncated"
        raise CorruptFileError(f"{where}: undecodable JPEG image ({exc})") from None


def encode_frame(frame: NuscenesFrame, jpegs: list[bytes]) -> dict[str, Any]:
    """The msgpack-ready value of ``frame`` with its cameras' JPEG files ``jpegs``."""
    if len(jpegs) != len(frame.cameras):
        raise ValueError(f"{len(jpegs)} images for the {len(frame.cameras)} cameras of a frame")
    boxes = frame.boxes
    cams = frame.cameras
    return {
        "schema": SCHEMA,
        "sample_token": frame.sample_token,
        "scene": frame.scene,
        "location": frame.location,
        "timestamp": int(frame.timestamp),
        "ego2global": _f8(frame.ego2global),
        "lidar_timestamp": frame.lidar_timestamp,
        "lidar_sensor2ego": None if frame.lidar_sensor2ego is None else _f8(frame.lidar_sensor2ego),
        "cam_names": [c.channel for c in cams],
        "cam_filenames": [c.filename for c in cams],
        "cam_timestamps": [int(c.timestamp) for c in cams],
        "img_shapes": [[int(c.height), int(c.width)] for c in cams],
        "img": [bytes(j) for j in jpegs],
        "intrinsics": _f8(np.stack([c.intrinsic for c in cams])),
        "sensor2ego": _f8(np.stack([c.sensor2ego for c in cams])),
        "cam_ego2global": _f8(np.stack([c.ego2global for c in cams])),
        "num_boxes": len(boxes),
        "gt_boxes": _f8(boxes_in_frame(boxes, frame.ego2global)),
        "gt_boxes_global": _f8(boxes.global_boxes()),
        "gt_rotation_global": _f8(boxes.rotation),
        "gt_labels": _i8(boxes.labels),
        "gt_attributes": list(boxes.attributes),
        "gt_num_lidar_pts": _i8(boxes.num_lidar_pts),
        "gt_num_radar_pts": _i8(boxes.num_radar_pts),
        "gt_visibility": _i8(boxes.visibility),
        "gt_instance_tokens": list(boxes.instance_tokens),
        "gt_annotation_tokens": list(boxes.tokens),
    }


def decode_record(value: Any, where: str = "") -> dict[str, Any]:
    """The dataset sample of a stored value (see :mod:`hat.data.datasets.nuscenes`).

    ``bin`` fields may be ``bytes`` or memoryviews of the LMDB map; every returned array is
    writable and owns its memory. ``where`` (e.g. ``"<lmdb> key b'3'"``) prefixes errors.
    """
    check_schema(value, SCHEMA, "nuScenes", where)
    with record_fields("nuScenes", where):
        names = [str(n) for n in value["cam_names"]]
        views = len(names)
        num = int(value["num_boxes"])

        def f8(key: str, shape: tuple[int, ...]) -> np.ndarray:
            return frombuffer(value[key], "<f8", shape, f"{where} {key}").astype(np.float64)

        def i8(key: str) -> np.ndarray:
            return frombuffer(value[key], "<i8", (num,), f"{where} {key}").astype(np.int64)

        imgs = []
        for name, data, (height, width) in zip(names, value["img"], value["img_shapes"]):
            img = decode_jpeg(data, f"{where} {name}")
            if img.shape != (height, width, 3):
                raise CorruptFileError(
                    f"{where} {name}: decoded {img.shape}, expected ({height}, {width}, 3)"
                )
            imgs.append(img)
        boxes = f8("gt_boxes", (num, BOX_DIM))
        boxes_global = f8("gt_boxes_global", (num, BOX_DIM))
        valid = ~np.isnan(boxes[:, 7:9]).any(axis=1)
        boxes[~valid, 7:9] = 0.0
        boxes_global[~valid, 7:9] = 0.0
        return {
            "sample_token": str(value["sample_token"]),
            "scene": str(value["scene"]),
            "location": str(value["location"]),
            "timestamp": int(value["timestamp"]),
            "ego2global": f8("ego2global", (4, 4)),
            "cam_names": names,
            "img": imgs,
            "intrinsics": f8("intrinsics", (views, 3, 3)),
            "sensor2ego": f8("sensor2ego", (views, 4, 4)),
            "cam_ego2global": f8("cam_ego2global", (views, 4, 4)),
            "gt_boxes": boxes,
            "gt_boxes_global": boxes_global,
            "gt_rotation_global": f8("gt_rotation_global", (num, 4)),
            "gt_labels": i8("gt_labels"),
            "gt_attributes": [str(a) for a in value["gt_attributes"]],
            "gt_num_lidar_pts": i8("gt_num_lidar_pts"),
            "gt_num_radar_pts": i8("gt_num_radar_pts"),
            "gt_visibility": i8("gt_visibility"),
            "gt_instance_tokens": [str(t) for t in value["gt_instance_tokens"]],
            "gt_velocity_valid": valid,
        }
