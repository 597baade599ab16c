"""Readers and writers of raw on-disk formats (Middlebury .flo, PPM/PNG images, FlyingChairs)."""

from hat.data.readers.flo import read_flo, write_flo
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout, read_split_file
from hat.data.readers.image import read_image, write_ppm

__all__ = [
    "FlyingChairsLayout",
    "read_flo",
    "read_image",
    "read_split_file",
    "write_flo",
    "write_ppm",
]
