"""Readers and writers of raw on-disk formats (.flo, .pfm, PPM/PNG images, dataset layouts)."""

from hat.data.readers.flo import read_flo, write_flo
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout, read_split_file
from hat.data.readers.image import read_image, write_ppm
from hat.data.readers.mot17_files import read_det, read_gt, read_seqinfo
from hat.data.readers.mot17_layout import Mot17Layout
from hat.data.readers.pfm import read_pfm, write_pfm
from hat.data.readers.sceneflow_layout import SceneFlowLayout, read_list_file

__all__ = [
    "FlyingChairsLayout",
    "Mot17Layout",
    "SceneFlowLayout",
    "read_det",
    "read_flo",
    "read_gt",
    "read_image",
    "read_list_file",
    "read_pfm",
    "read_seqinfo",
    "read_split_file",
    "write_flo",
    "write_pfm",
    "write_ppm",
]
