"""A toy dataset with random augmentation drawn on the loading side (for the resume tests).

Loaded only through ``augment_toy_config.py``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ..engine.toy_components import ToyDataset


class AugmentedToyDataset(ToyDataset):
    """:class:`ToyDataset` whose ``x`` gets noise from torch, numpy and python ``random`` (the
    three generators random transforms draw from), in whichever process loads the sample."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = super().__getitem__(i)
        noise = 0.1 * torch.randn(item["x"].shape)
        noise += torch.from_numpy(0.05 * np.random.randn(*item["x"].shape).astype(np.float32))
        item["x"] = item["x"] + noise + 0.05 * random.random()
        return item


class ChairsToyDataset(torch.utils.data.Dataset):
    """A packed FlyingChairs LMDB as the toy regression problem: ``x`` is 8 pixel means of the
    first image, ``y`` the mean flow (the LMDB is read as in real trainings)."""

    def __init__(self, data_path: str) -> None:
        from hat.data.datasets import FlyingChairs

        self.chairs = FlyingChairs(data_path)

    def __len__(self) -> int:
        return len(self.chairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.chairs[i]
        img = torch.from_numpy(item["img"][0]).float() / 255.0
        x = torch.stack([part.mean() for part in img.flatten().chunk(8)])
        return {"x": x, "y": torch.tensor(float(item["gt_flow"].mean())), "index": i}

    def __repr__(self) -> str:
        return f"ChairsToyDataset({self.chairs!r})"
