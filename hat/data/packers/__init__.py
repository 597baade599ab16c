"""Packers: raw datasets -> LMDB."""

from hat.data.packers.cityscapes import CityscapesPacker
from hat.data.packers.flyingchairs import FlyingChairsPacker

__all__ = ["CityscapesPacker", "FlyingChairsPacker"]
