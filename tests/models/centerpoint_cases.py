"""The seed's CenterPoint settings shared by the detection-branch tests (the recipe config
writes the same values literally, as HAT's config does)."""

TASKS = [
    dict(name="car", num_class=1, class_names=["car"]),
    dict(name="truck", num_class=2, class_names=["truck", "construction_vehicle"]),
    dict(name="bus", num_class=2, class_names=["bus", "trailer"]),
    dict(name="barrier", num_class=1, class_names=["barrier"]),
    dict(name="bicycle", num_class=2, class_names=["motorcycle", "bicycle"]),
    dict(name="pedestrian", num_class=2, class_names=["pedestrian", "traffic_cone"]),
]
COMMON_HEADS = dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2))
NMS_TYPE = ["rotate", "rotate", "rotate", "circle", "rotate", "rotate"]
MIN_RADIUS = [4, 12, 10, 1, 0.85, 0.175]
NMS_THRESHOLD = [0.2, 0.2, 0.2, 0.2, 0.2, 0.5]


def seed_target(bev_size, **overrides) -> dict:
    """The seed's ``CenterPoint3dTarget`` dict on the grid ``bev_size``."""
    from hat.data.readers.nuscenes_constants import DETECTION_CLASSES

    return dict(
        type="CenterPoint3dTarget",
        class_names=DETECTION_CLASSES,
        tasks=TASKS,
        gaussian_overlap=0.1,
        min_radius=2,
        out_size_factor=1,
        norm_bbox=True,
        max_num=500,
        bbox_weight=[1.0] * 8 + [0.2, 0.2],
        bev_size=bev_size,
        **overrides,
    )
