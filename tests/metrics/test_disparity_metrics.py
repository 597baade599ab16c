"""Stereo EndPointError and D1Error on hand-made cases."""

import math

import pytest
import torch

from hat.metrics.disparity import D1Error, resize_disparity
from hat.metrics.epe import EndPointError
from hat.registry import OBJECT_REGISTRY, build_from_registry


def _t(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]  # (1, 1, H, W)


def test_epe_masks_zero_and_beyond_max_disp():
    gt = _t([[0.0, 10.0, 191.9, 192.0, 250.0]])
    pred = _t([[5.0, 12.0, 190.9, 0.0, 0.0]])
    m = build_from_registry(dict(type="EndPointError", use_mask=True))
    m.update(gt, pred)
    assert m.get()[1] == pytest.approx((2.0 + 1.0) / 2)  # only 10 and 191.9 count
    unmasked = EndPointError(use_mask=False)
    unmasked.update(gt, pred)
    assert unmasked.get()[1] == pytest.approx((5 + 2 + 1 + 192 + 250) / 5)
    small = EndPointError(use_mask=True, max_disp=100)
    small.update(gt, pred)
    assert small.get()[1] == pytest.approx(2.0)


def test_epe_pools_pixels_over_batches_not_images():
    m = EndPointError(use_mask=True)
    m.update(_t([[1.0, 1.0, 1.0]]), _t([[2.0, 2.0, 2.0]]))  # 3 pixels of error 1
    m.update(_t([[1.0]]), _t([[9.0]]))  # 1 pixel of error 8
    assert m.get()[1] == pytest.approx((3 * 1 + 8) / 4)  # a mean of image means would be 4.5
    m.reset()
    assert math.isnan(m.get()[1])


def test_epe_prediction_forms():
    gt = torch.full((2, 1, 4, 4), 6.0)
    m = EndPointError(use_mask=True)
    m.update(gt, torch.full((2, 4, 4), 5.0))  # (B, H, W) prediction
    assert m.get()[1] == pytest.approx(1.0)
    m.reset()
    coarse = torch.full((2, 1, 2, 2), 3.0)  # 3 px at half width = 6 px at full width
    m.update(gt, {"disps": [torch.zeros(2, 1, 1, 1), coarse]})
    assert m.get()[1] == pytest.approx(0.0)
    m.reset()
    m.update({"gt_disp": gt}, {"pred_disp": gt + 0.5})
    assert m.get()[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"expected preds \(B, 1, H, W\)"):
        m.update(gt, torch.zeros(2, 2, 4, 4))


def test_flow_targets_are_unchanged():
    m = EndPointError()
    m.update(torch.zeros(1, 2, 1, 1), torch.tensor([[[[3.0]], [[4.0]]]]))
    assert m.get()[1] == pytest.approx(5.0)


def test_d1_thresholds():
    # errors:                 2.9 (no), 3.1 on gt 100 (no: < 5 %), 6 on gt 100 (yes),
    #                         3.5 on gt 10 (yes), gt 0 (masked)
    gt = _t([[10.0, 100.0, 100.0, 10.0, 0.0]])
    pred = _t([[12.9, 103.1, 106.0, 6.5, 50.0]])
    m = build_from_registry(dict(type="D1Error"))
    m.update(gt, pred)
    name, value = m.get()
    assert name == "D1" and value == pytest.approx(2 / 4)
    m.update(_t([[20.0]]), _t([[20.0]]))
    assert m.get()[1] == pytest.approx(2 / 5)
    assert m.bad_count.dtype == torch.float64
    with pytest.raises(ValueError, match="disparity target"):
        m.update(torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1))


def test_resize_disparity_scales_by_width():
    d = torch.full((1, 1, 2, 3), 4.0)
    out = resize_disparity(d, (4, 9))
    assert out.shape == (1, 1, 4, 9) and torch.allclose(out, torch.full_like(out, 12.0))


def test_registered():
    assert OBJECT_REGISTRY.get("D1Error") is D1Error
    assert OBJECT_REGISTRY.get("EndPointError") is EndPointError
