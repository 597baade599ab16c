"""Packers: raw datasets -> LMDB."""

from hat.data.packers.cityscapes import CityscapesPacker
from hat.data.packers.flyingchairs import FlyingChairsPacker
from hat.data.packers.sceneflow import SceneFlowPacker

__all__ = ["CityscapesPacker", "FlyingChairsPacker", "SceneFlowPacker"]
