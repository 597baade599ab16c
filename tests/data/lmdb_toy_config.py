"""The engine tests' toy training config reading a packed FlyingChairs LMDB (``lmdb_path``)."""

from ..engine.toy_config import *  # noqa: F403
from ..engine.toy_config import data_loader
from .augment_toy_components import ChairsToyDataset

lmdb_path = "/nonexistent/train_lmdb"
data_loader["dataset"] = dict(type=ChairsToyDataset, data_path=lmdb_path)
