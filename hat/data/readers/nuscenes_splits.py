"""The official nuScenes scene splits, by scene name, as nuscenes-devkit's ``utils/splits.py``.

``train``/``val``/``test`` (700/150/150 scenes) belong to ``v1.0-trainval`` / ``v1.0-test``;
``mini_train``/``mini_val`` (8/2 scenes) to ``v1.0-mini``. The lists are stored as runs of
scene numbers (``"4-11"`` = scene-0004 ... scene-0011) and expanded once at import.

Any other split name is looked up, as devkit 1.2's ``get_scenes_of_split`` does, in the
version's custom ``<dataroot>/<version>/splits.json`` (``{"<split>": ["scene-....", ...]}``).
"""

from __future__ import annotations

import json
import os

__all__ = [
    "SPLITS",
    "SPLIT_VERSIONS",
    "custom_splits_path",
    "scene_names",
    "split_of_scene",
    "split_scene_names",
]

_RUNS = {
    "train": (
        "1-2 4-11 19-34 41-76 120-135 138-139 149-152 154-155 157-168 170-185 187-188 190-196 "
        "199-200 202-204 206-214 218-220 222 224-264 283-306 315-318 321 323-324 328 347-386 "
        "388-403 405-408 410-459 461-465 467-469 471-472 474-480 499-502 504-515 517-518 525-539 "
        "541-546 566 568 570-578 580 582-600 639-679 681 683-689 695-698 700-701 703-719 726-728 "
        "730-731 733-741 744 746-747 749-752 757-765 767-769 786-787 789-792 803-806 808-813 "
        "815-817 819-822 847-856 858 860-866 868-873 875-878 880 882-903 945 947 949 952-953 "
        "955-961 975-984 988-992 994-1025 1044-1058 1074-1102 1104-1110"
    ),
    "val": (
        "3 12-18 35-36 38-39 92-110 221 268-278 329-332 344-346 519-524 552-565 625-627 629-630 "
        "632-638 770-771 775 777-778 780-784 794-800 802 904-917 919-931 962-963 966-969 971-972 "
        "1059-1073"
    ),
    "test": (
        "77-91 111-119 140 142-148 265-266 279-282 307-314 333-343 481-498 547-551 601-604 "
        "606-624 827-831 833-842 844-846 932-933 935-943 1026-1043"
    ),
    "mini_train": "61 553 655 757 796 1077 1094 1100",
    "mini_val": "103 916",
}

# Which dataset version each split belongs to (the devkit's ``load_gt`` checks the same pairing).
SPLIT_VERSIONS = {
    "train": "v1.0-trainval",
    "val": "v1.0-trainval",
    "test": "v1.0-test",
    "mini_train": "v1.0-mini",
    "mini_val": "v1.0-mini",
}


def _expand(runs: str) -> tuple[str, ...]:
    names = []
    for run in runs.split():
        first, _, last = run.partition("-")
        names += [f"scene-{n:04d}" for n in range(int(first), int(last or first) + 1)]
    return tuple(names)


SPLITS: dict[str, tuple[str, ...]] = {name: _expand(runs) for name, runs in _RUNS.items()}


def scene_names(split: str) -> tuple[str, ...]:
    """The scene names of an official split; a clear error for an unknown split."""
    try:
        return SPLITS[split]
    except KeyError:
        raise ValueError(
            f"unknown nuScenes split {split!r}; expected one of {sorted(SPLITS)}"
        ) from None


def split_of_scene(name: str, version: str) -> str | None:
    """The split of ``version`` holding scene ``name`` (None when none does)."""
    for split, names in SPLITS.items():
        if SPLIT_VERSIONS[split] == version and name in names:
            return split
    return None


def custom_splits_path(dataroot: str | os.PathLike, version: str) -> str:
    """Where a version's custom splits live: ``<dataroot>/<version>/splits.json``."""
    return os.path.join(os.fspath(dataroot), version, "splits.json")


def split_scene_names(split: str, dataroot: str | os.PathLike, version: str) -> tuple[str, ...]:
    """The scene names of ``split`` for ``version`` of the dataset at ``dataroot``.

    An official split must belong to ``version`` (``train``/``val`` to ``v1.0-trainval``, ...);
    any other name is read from the custom :func:`custom_splits_path` file. Errors name the
    split, the version and the file.
    """
    if split in SPLITS:
        expected = SPLIT_VERSIONS[split]
        # the devkit's own check: the version name ends like the split's version
        if not version.endswith(expected.rsplit("-", 1)[-1]):
            raise ValueError(
                f"nuScenes split {split!r} belongs to {expected}, not to version {version!r}"
            )
        return SPLITS[split]
    path = custom_splits_path(dataroot, version)
    if not os.path.isfile(path):
        raise ValueError(
            f"unknown nuScenes split {split!r}: not one of {sorted(SPLITS)} and there is no "
            f"custom split file {path}"
        )
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable custom split file: {exc}") from None
    if not isinstance(data, dict) or split not in data:
        names = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: custom split {split!r} not found (the file holds {names})")
    names = data[split]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: custom split {split!r} must be a list of scene names")
    return tuple(names)
