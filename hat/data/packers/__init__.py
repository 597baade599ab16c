"""Packers: raw datasets -> LMDB."""

from hat.data.packers.flyingchairs import FlyingChairsPacker

__all__ = ["FlyingChairsPacker"]
