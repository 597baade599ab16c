"""The fixed nuScenes tables (category, attribute, visibility, sensor) and log/map records."""

from __future__ import annotations

from hat.data.readers.nuscenes_constants import ATTRIBUTE_NAMES, NUSCENES_CAMERAS
from hat.data.synthetic.nuscenes_map import token_of

__all__ = [
    "CATEGORIES",
    "RADARS",
    "TABLE_NAMES",
    "attribute_table",
    "category_table",
    "log_record",
    "sensor_table",
    "visibility_table",
    "visibility_token",
]

TABLE_NAMES = (
    "attribute",
    "calibrated_sensor",
    "category",
    "ego_pose",
    "instance",
    "log",
    "map",
    "sample",
    "sample_annotation",
    "sample_data",
    "scene",
    "sensor",
    "visibility",
)
# The 23 categories of nuScenes v1.0, with short descriptions.
CATEGORIES = {
    "human.pedestrian.adult": "Adult subcategory.",
    "human.pedestrian.child": "Child subcategory.",
    "human.pedestrian.wheelchair": "Wheelchairs.",
    "human.pedestrian.stroller": "Strollers.",
    "human.pedestrian.personal_mobility": "Personal mobility devices (skateboard, scooter).",
    "human.pedestrian.police_officer": "Police officer.",
    "human.pedestrian.construction_worker": "Construction worker.",
    "animal": "All animals, e.g. cats, rats, dogs, deer, birds.",
    "vehicle.car": "Vehicle designed primarily for personal use.",
    "vehicle.motorcycle": "Gasoline or electric powered 2-wheeled vehicle.",
    "vehicle.bicycle": "Human or electric powered 2-wheeled vehicle.",
    "vehicle.bus.bendy": "Bendy bus subcategory.",
    "vehicle.bus.rigid": "Rigid bus subcategory.",
    "vehicle.truck": "Vehicles primarily designed to haul cargo.",
    "vehicle.construction": "Vehicles primarily designed for construction.",
    "vehicle.emergency.ambulance": "All types of ambulances.",
    "vehicle.emergency.police": "All types of police vehicles.",
    "vehicle.trailer": "Any vehicle trailer, for cars, motorcycles, trucks etc.",
    "movable_object.barrier": "Temporary road barrier placed in the scene to redirect traffic.",
    "movable_object.trafficcone": "All types of traffic cones.",
    "movable_object.pushable_pullable": "Objects that a pedestrian may push or pull.",
    "movable_object.debris": "Movable object that is left on the driveable surface.",
    "static_object.bicycle_rack": "Area or device intended to park or secure the bicycles.",
}
_ATTRIBUTE_DESCRIPTIONS = {
    "vehicle.moving": "Vehicle is moving.",
    "vehicle.parked": "Vehicle is stationary (usually for longer duration) with no immediate "
    "intent to move.",
    "vehicle.stopped": "Vehicle, with a driver/rider in/on it, is currently stationary but has "
    "an intent to move.",
    "pedestrian.moving": "The human is moving.",
    "pedestrian.standing": "The human is standing.",
    "pedestrian.sitting_lying_down": "The human is sitting or lying down.",
    "cycle.with_rider": "There is someone on the bicycle or motorcycle.",
    "cycle.without_rider": "There is NO rider on the bicycle or motorcycle.",
}
_VISIBILITY = (
    ("1", "v0-40", "visibility of whole object is between 0 and 40%"),
    ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
    ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
    ("4", "v80-100", "visibility of whole object is between 80 and 100%"),
)
RADARS = (
    "RADAR_FRONT",
    "RADAR_FRONT_LEFT",
    "RADAR_FRONT_RIGHT",
    "RADAR_BACK_LEFT",
    "RADAR_BACK_RIGHT",
)


def category_table() -> list[dict]:
    return [
        {"token": token_of("category", n), "name": n, "description": d}
        for n, d in CATEGORIES.items()
    ]


def attribute_table() -> list[dict]:
    return [
        {"token": token_of("attribute", n), "name": n, "description": _ATTRIBUTE_DESCRIPTIONS[n]}
        for n in ATTRIBUTE_NAMES
    ]


def visibility_table() -> list[dict]:
    return [{"token": t, "level": lv, "description": d} for t, lv, d in _VISIBILITY]


def visibility_token(visible_fraction: float) -> str:
    """nuScenes' visibility bin ('1'..'4') of the visible fraction of an object (0..1)."""
    for token, upper in (("1", 0.4), ("2", 0.6), ("3", 0.8)):
        if visible_fraction < upper:
            return token
    return "4"


def sensor_table() -> list[dict]:
    rows = [
        {"token": token_of("sensor", c), "channel": c, "modality": "camera"}
        for c in NUSCENES_CAMERAS
    ]
    rows.append(
        {"token": token_of("sensor", "LIDAR_TOP"), "channel": "LIDAR_TOP", "modality": "lidar"}
    )
    rows += [{"token": token_of("sensor", c), "channel": c, "modality": "radar"} for c in RADARS]
    return rows


def log_record(token: str, location: str, date: str, clock: str) -> dict:
    """A log of a Boston (vehicle n008, UTC-4) or Singapore (n015, UTC+8) drive."""
    boston = location.startswith("boston")
    vehicle = "n008" if boston else "n015"
    zone = "-0400" if boston else "+0800"
    return {
        "token": token,
        "logfile": f"{vehicle}-{date}-{clock}{zone}",
        "vehicle": vehicle,
        "date_captured": date,
        "location": location,
    }
