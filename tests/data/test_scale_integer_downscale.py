"""``Scale``'s strided fast path for bilinear 1/k downscaling equals ``F.interpolate``."""

import pytest
import torch
import torch.nn.functional as F

from hat.data.transforms import Scale
from hat.data.transforms.scale import _bilinear_integer_downscale


@pytest.mark.parametrize("k", [2, 3, 4, 5, 8, 16, 64])
@pytest.mark.parametrize("hw", [(64, 128), (67, 129)])
def test_fast_path_equals_interpolate(k, hw):
    g = torch.Generator().manual_seed(k)
    x = torch.rand(2, 3, *hw, generator=g)
    ref = F.interpolate(x, scale_factor=1 / k, mode="bilinear", align_corners=False)
    got = _bilinear_integer_downscale(x, 1 / k)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, rtol=0, atol=1e-6)


def test_other_factors_use_interpolate():
    x = torch.rand(1, 2, 40, 40)
    assert _bilinear_integer_downscale(x, 0.4) is None
    assert _bilinear_integer_downscale(x, 1.0) is None
    assert _bilinear_integer_downscale(x, 2.0) is None
    out = Scale(scales=(0.4,), mode="bilinear", mul_scale=False)({"gt_flow": x})["gt_flow"][0]
    assert torch.equal(out, F.interpolate(x, scale_factor=0.4, mode="bilinear"))


def test_one_hot_levels_are_soft_labels_summing_to_one():
    ids = torch.randint(0, 19, (2, 64, 128))
    one_hot = F.one_hot(ids, 19).permute(0, 3, 1, 2).float()
    levels = Scale(scales=(1 / 4, 1 / 8, 1 / 64), mode="bilinear")({"gt_seg": one_hot})["gt_seg"]
    assert [tuple(lv.shape) for lv in levels] == [(2, 19, 16, 32), (2, 19, 8, 16), (2, 19, 1, 2)]
    for lv in levels:
        assert torch.allclose(lv.sum(1), torch.ones(()))
        assert set(torch.unique(lv * 4).tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
