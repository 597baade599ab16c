"""nuScenes names shared by the reader, packer, dataset, metric and synthetic generator."""

from __future__ import annotations

__all__ = [
    "ATTRIBUTE_NAMES",
    "CATEGORY_TO_DETECTION",
    "DETECTION_CLASSES",
    "NUSCENES_CAMERAS",
    "category_to_detection_name",
]

# Camera order everywhere (records, tensors, pictures): nuScenes' display layout,
# top row front-left/front/front-right, bottom row back-left/back/back-right.
NUSCENES_CAMERAS = (
    "CAM_FRONT_LEFT",
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_LEFT",
    "CAM_BACK",
    "CAM_BACK_RIGHT",
)

# The 10 detection classes in HAT's order (label index = position).
DETECTION_CLASSES = (
    "car",
    "truck",
    "trailer",
    "bus",
    "construction_vehicle",
    "bicycle",
    "motorcycle",
    "pedestrian",
    "traffic_cone",
    "barrier",
)

# nuScenes category name -> detection class (nuscenes-devkit's category_to_detection_name);
# every other category (animal, debris, wheelchair, ...) is not a detection class.
CATEGORY_TO_DETECTION = {
    "vehicle.car": "car",
    "vehicle.truck": "truck",
    "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus",
    "vehicle.trailer": "trailer",
    "vehicle.construction": "construction_vehicle",
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
    "vehicle.motorcycle": "motorcycle",
    "vehicle.bicycle": "bicycle",
    "movable_object.trafficcone": "traffic_cone",
    "movable_object.barrier": "barrier",
}

# The 8 attributes of the attribute table.
ATTRIBUTE_NAMES = (
    "vehicle.moving",
    "vehicle.parked",
    "vehicle.stopped",
    "pedestrian.moving",
    "pedestrian.standing",
    "pedestrian.sitting_lying_down",
    "cycle.with_rider",
    "cycle.without_rider",
)


def category_to_detection_name(category: str) -> str | None:
    """The detection class of a nuScenes category name, or None when it is not one."""
    return CATEGORY_TO_DETECTION.get(category)
