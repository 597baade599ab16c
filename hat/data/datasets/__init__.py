"""Datasets (registered in ``OBJECT_REGISTRY``)."""

from hat.data.datasets.flyingchairs import FlyingChairs, FlyingChairsFromImage

__all__ = ["FlyingChairs", "FlyingChairsFromImage"]
