"""The raw Cityscapes layout (``leftImg8bit_trainvaltest.zip`` + ``gtFine_trainvaltest.zip``).

::

    <root>/leftImg8bit/{train,val,test}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png
    <root>/gtFine/{split}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelIds.png     (8-bit grey)
    <root>/gtFine/{split}/{city}/..._gtFine_instanceIds.png (16-bit), ..._gtFine_color.png

Samples of a split are listed sorted by city, then by file name. Every image must have its
``labelIds`` file (the error names the missing file); instance and colour files are optional.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from hat.data.errors import CorruptFileError
from hat.data.readers.image import read_image

__all__ = [
    "IMG_SUFFIX",
    "LABEL_SUFFIX",
    "SPLITS",
    "CityscapesLayout",
    "CityscapesSample",
    "read_label_png",
]

SPLITS = ("train", "val", "test")
IMG_DIR, GT_DIR = "leftImg8bit", "gtFine"
IMG_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
INSTANCE_SUFFIX = "_gtFine_instanceIds.png"
COLOR_SUFFIX = "_gtFine_color.png"


@dataclass(frozen=True)
class CityscapesSample:
    """Paths of one sample; ``name`` is the stem ``{city}_{seq}_{frame}``."""

    name: str
    city: str
    image_path: str
    label_path: str

    @property
    def instance_path(self) -> str:
        return self.label_path[: -len(LABEL_SUFFIX)] + INSTANCE_SUFFIX

    @property
    def color_path(self) -> str:
        return self.label_path[: -len(LABEL_SUFFIX)] + COLOR_SUFFIX


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """Read a ``labelIds`` PNG as an ``(H, W)`` uint8 array (raw labelIds)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"label file not found: {path}")
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return check_label_array(label, path)


def check_label_array(label: np.ndarray | None, where: str) -> np.ndarray:
    """``label`` if it is a decoded 8-bit single-channel image, else a CorruptFileError."""
    if label is None:
        raise CorruptFileError(f"{where}: unreadable label image: expected an 8-bit grey PNG")
    if label.ndim != 2 or label.dtype != np.uint8:
        raise CorruptFileError(
            f"{where}: label image is {label.shape} {label.dtype}: expected (H, W) uint8 "
            "labelIds (an 8-bit grey PNG)"
        )
    return label


class CityscapesLayout:
    """Paths of a raw Cityscapes tree rooted at ``root`` (holding ``leftImg8bit/``, ``gtFine/``).

    Args:
        root: the dataset directory.
        image_size: expected ``(H, W)`` of every image (e.g. ``(1024, 2048)``); None: any.
    """

    def __init__(self, root: str | os.PathLike, image_size: tuple[int, int] | None = None):
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"Cityscapes directory not found: {self.root}")
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))

    def split_dirs(self, split: str) -> tuple[str, str]:
        """``(leftImg8bit/<split>, gtFine/<split>)``."""
        if split not in SPLITS:
            raise ValueError(f"unknown Cityscapes split {split!r}: expected one of {SPLITS}")
        return os.path.join(self.root, IMG_DIR, split), os.path.join(self.root, GT_DIR, split)

    def samples(self, split: str) -> list[CityscapesSample]:
        """Every image of ``split`` with its label file, sorted by city then name."""
        img_root, gt_root = self.split_dirs(split)
        for d in (img_root, gt_root):
            if not os.path.isdir(d):
                raise FileNotFoundError(
                    f"Cityscapes {split} directory not found: {d} (expected <root>/{IMG_DIR}/"
                    f"{split}/<city>/ and <root>/{GT_DIR}/{split}/<city>/)"
                )
        out: list[CityscapesSample] = []
        for city in sorted(os.listdir(img_root)):
            city_dir = os.path.join(img_root, city)
            if not os.path.isdir(city_dir):
                continue
            for fname in sorted(os.listdir(city_dir)):
                if not fname.endswith(IMG_SUFFIX):
                    continue
                stem = fname[: -len(IMG_SUFFIX)]
                label = os.path.join(gt_root, city, stem + LABEL_SUFFIX)
                if not os.path.isfile(label):
                    raise FileNotFoundError(
                        f"label file not found: {label} (for image {os.path.join(city_dir, fname)})"
                    )
                out.append(CityscapesSample(stem, city, os.path.join(city_dir, fname), label))
        if not out:
            raise FileNotFoundError(f"no *{IMG_SUFFIX} images under {img_root}/<city>/")
        return out

    def read_sample(
        self, sample: CityscapesSample, to_rgb: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(image (H, W, 3) uint8, labelIds (H, W) uint8)``; checks both sizes."""
        img = read_image(sample.image_path, to_rgb)
        label = read_label_png(sample.label_path)
        self.check_sizes(sample, img.shape[:2], label.shape)
        return img, label

    def check_sizes(
        self, sample: CityscapesSample, img_hw: tuple[int, ...], label_hw: tuple[int, ...]
    ) -> None:
        """Raise a CorruptFileError naming the files when the sizes disagree."""
        if tuple(img_hw) != tuple(label_hw):
            raise CorruptFileError(
                f"image and label sizes differ: {sample.image_path} is {img_hw[1]}x{img_hw[0]}, "
                f"{sample.label_path} is {label_hw[1]}x{label_hw[0]} (WxH)"
            )
        self.check_image_size(sample, img_hw)

    def check_image_size(self, sample: CityscapesSample, img_hw: tuple[int, ...]) -> None:
        """Raise a CorruptFileError naming the image when it is not ``image_size``."""
        if self.image_size is not None and tuple(img_hw) != self.image_size:
            h, w = self.image_size
            raise CorruptFileError(
                f"{sample.image_path}: image is {img_hw[1]}x{img_hw[0]}, expected {w}x{h} (WxH)"
            )
