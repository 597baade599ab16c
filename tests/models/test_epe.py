"""EndPointError on hand cases."""

import math

import pytest
import torch

from hat.metrics.epe import EndPointError
from hat.registry import OBJECT_REGISTRY


def test_pixel_average_over_batches():
    m = EndPointError()
    gt = torch.zeros(1, 2, 1, 2)
    pred = torch.tensor([[[[3.0, 0.0]], [[4.0, 0.0]]]])  # EPE 5 and 0
    m.update(gt, pred)
    m.update(torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2))  # 4 pixels of sqrt(2)
    name, value = m.get()
    assert name == "EPE"
    assert value == pytest.approx((5 + 4 * math.sqrt(2)) / 6)
    assert m.epe_sum.dtype == torch.float64
    m.reset()
    assert math.isnan(m.get()[1])


def test_dict_and_list_preds_and_resize():
    m = EndPointError(name="epe")
    gt = torch.zeros(1, 2, 4, 4)
    gt[:, 0] = 2.0
    coarse = torch.zeros(1, 2, 2, 2)
    coarse[:, 0] = 1.0  # 1 px at half resolution = 2 px at full resolution
    m.update(gt, {"flows": [coarse, torch.zeros(1, 2, 1, 1)]})
    assert m.get()[1] == pytest.approx(0.0)
    m.reset()
    m.update(gt, {"flow": torch.zeros(1, 2, 4, 4)})
    assert m.get_dict() == {"epe": pytest.approx(2.0)}


def test_mask():
    gt = torch.zeros(1, 2, 1, 3)
    gt[0, 0, 0, 2] = float("nan")
    gt[0, 1, 0, 1] = 1e10
    pred = torch.ones(1, 2, 1, 3)
    m = EndPointError(use_mask=True)
    m.update(gt, pred)
    assert m.get()[1] == pytest.approx(math.sqrt(2))
    valid = torch.cat([torch.zeros(1, 2, 1, 3), torch.tensor([[[[1.0, 0.0, 0.0]]]])], dim=1)
    m.reset()
    m.update(valid, pred)
    assert m.get()[1] == pytest.approx(math.sqrt(2))


def test_registered():
    assert OBJECT_REGISTRY.get("EndPointError") is EndPointError
