"""Packers: raw datasets -> LMDB."""

from hat.data.packers.cityscapes import CityscapesPacker
from hat.data.packers.flyingchairs import FlyingChairsPacker
from hat.data.packers.mot17 import Mot17Packer
from hat.data.packers.nuscenes import NuscenesPacker
from hat.data.packers.sceneflow import SceneFlowPacker

__all__ = [
    "CityscapesPacker",
    "FlyingChairsPacker",
    "Mot17Packer",
    "NuscenesPacker",
    "SceneFlowPacker",
]
