"""The engine tests' toy training config with random augmentation in the data loader."""

from ..engine.toy_config import *  # noqa: F403
from ..engine.toy_config import data_loader, dataset_size
from .augment_toy_components import AugmentedToyDataset

data_loader["dataset"] = dict(type=AugmentedToyDataset, size=dataset_size, dim=8, seed=0)
