"""The official Cityscapes label table (``cityscapesscripts/helpers/labels.py``), dependency-free.

``gtFine_labelIds.png`` files hold the *labelId* (0..33). Training and evaluation use the 19
*train ids* (0..18); every other labelId is void and maps to :data:`IGNORE_INDEX` (255).
The official table marks void with trainId 255, and "license plate" (labelId -1, never written
to a labelIds image) with trainId -1; both are 255 here. ``tests/data/test_cityscapes_labels.py``
compares this copy with the installed ``cityscapesscripts``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABEL_MAPPINGS",
    "CITYSCAPES_LABLE_MAPPINGS",
    "IGNORE_INDEX",
    "LABELS",
    "LABEL_BY_ID",
    "LABEL_BY_NAME",
    "TRAIN_ID_COLORS",
    "Label",
    "color_of_label_ids",
]

IGNORE_INDEX = 255


class Label(NamedTuple):
    """One row of the official table."""

    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]  # RGB


# fmt: off
LABELS: tuple[Label, ...] = (
    Label("unlabeled",            0, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("ego vehicle",          1, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("rectification border", 2, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("out of roi",           3, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("static",               4, 255, "void",         0, False, True,  (0, 0, 0)),
    Label("dynamic",              5, 255, "void",         0, False, True,  (111, 74, 0)),
    Label("ground",               6, 255, "void",         0, False, True,  (81, 0, 81)),
    Label("road",                 7, 0,   "flat",         1, False, False, (128, 64, 128)),
    Label("sidewalk",             8, 1,   "flat",         1, False, False, (244, 35, 232)),
    Label("parking",              9, 255, "flat",         1, False, True,  (250, 170, 160)),
    Label("rail track",          10, 255, "flat",         1, False, True,  (230, 150, 140)),
    Label("building",            11, 2,   "construction", 2, False, False, (70, 70, 70)),
    Label("wall",                12, 3,   "construction", 2, False, False, (102, 102, 156)),
    Label("fence",               13, 4,   "construction", 2, False, False, (190, 153, 153)),
    Label("guard rail",          14, 255, "construction", 2, False, True,  (180, 165, 180)),
    Label("bridge",              15, 255, "construction", 2, False, True,  (150, 100, 100)),
    Label("tunnel",              16, 255, "construction", 2, False, True,  (150, 120, 90)),
    Label("pole",                17, 5,   "object",       3, False, False, (153, 153, 153)),
    Label("polegroup",           18, 255, "object",       3, False, True,  (153, 153, 153)),
    Label("traffic light",       19, 6,   "object",       3, False, False, (250, 170, 30)),
    Label("traffic sign",        20, 7,   "object",       3, False, False, (220, 220, 0)),
    Label("vegetation",          21, 8,   "nature",       4, False, False, (107, 142, 35)),
    Label("terrain",             22, 9,   "nature",       4, False, False, (152, 251, 152)),
    Label("sky",                 23, 10,  "sky",          5, False, False, (70, 130, 180)),
    Label("person",              24, 11,  "human",        6, True,  False, (220, 20, 60)),
    Label("rider",               25, 12,  "human",        6, True,  False, (255, 0, 0)),
    Label("car",                 26, 13,  "vehicle",      7, True,  False, (0, 0, 142)),
    Label("truck",               27, 14,  "vehicle",      7, True,  False, (0, 0, 70)),
    Label("bus",                 28, 15,  "vehicle",      7, True,  False, (0, 60, 100)),
    Label("caravan",             29, 255, "vehicle",      7, True,  True,  (0, 0, 90)),
    Label("trailer",             30, 255, "vehicle",      7, True,  True,  (0, 0, 110)),
    Label("train",               31, 16,  "vehicle",      7, True,  False, (0, 80, 100)),
    Label("motorcycle",          32, 17,  "vehicle",      7, True,  False, (0, 0, 230)),
    Label("bicycle",             33, 18,  "vehicle",      7, True,  False, (119, 11, 32)),
    Label("license plate",       -1, -1,  "vehicle",      7, False, True,  (0, 0, 142)),
)
# fmt: on

LABEL_BY_ID: dict[int, Label] = {lab.id: lab for lab in LABELS}
LABEL_BY_NAME: dict[str, Label] = {lab.name: lab for lab in LABELS}

#: ``mapping[label_id] -> train_id`` for label ids 0..33; void -> 255. Index with raw labelIds.
CITYSCAPES_LABEL_MAPPINGS: tuple[int, ...] = tuple(
    LABEL_BY_ID[i].train_id if 0 <= LABEL_BY_ID[i].train_id < 255 else IGNORE_INDEX
    for i in range(34)
)
#: HAT's (misspelt) name of the same table; HAT writes -1 for void, we write 255. ``LabelRemap``
#: treats both as "ignore".
CITYSCAPES_LABLE_MAPPINGS = CITYSCAPES_LABEL_MAPPINGS

#: The 19 evaluated classes, in train-id order.
CITYSCAPES_CLASSES: tuple[str, ...] = tuple(
    lab.name for lab in sorted(LABELS, key=lambda x: x.train_id) if 0 <= lab.train_id < 255
)

#: RGB colour of each train id (the official palette).
TRAIN_ID_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    next(lab.color for lab in LABELS if lab.train_id == t) for t in range(len(CITYSCAPES_CLASSES))
)


def color_of_label_ids() -> list[tuple[int, int, int]]:
    """RGB colour of every labelId 0..255 (ids outside the table are black)."""
    colors = [(0, 0, 0)] * 256
    for lab in LABELS:
        if lab.id >= 0:
            colors[lab.id] = lab.color
    return colors
