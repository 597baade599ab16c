"""Datasets (registered in ``OBJECT_REGISTRY``)."""

from hat.data.datasets.cityscapes import CityscapesFromImage, CityscapesFromLMDB
from hat.data.datasets.flyingchairs import FlyingChairs, FlyingChairsFromImage
from hat.data.datasets.mot17 import Mot17Dataset, Mot17FromImage
from hat.data.datasets.nuscenes import NuscenesDataset, NuscenesFromImage
from hat.data.datasets.sceneflow import SceneFlow, SceneFlowFromImage

__all__ = [
    "CityscapesFromImage",
    "CityscapesFromLMDB",
    "FlyingChairs",
    "FlyingChairsFromImage",
    "Mot17Dataset",
    "Mot17FromImage",
    "NuscenesDataset",
    "NuscenesFromImage",
    "SceneFlow",
    "SceneFlowFromImage",
]
