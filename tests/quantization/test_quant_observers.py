"""Observers against hand-computed ranges; averaging_constant; qparams formulas."""

import math

import numpy as np
import pytest
import torch

from hat.quantization.observers import (
    KLObserver,
    MinMaxObserver,
    MSEObserver,
    PercentileObserver,
    qparams_from_range,
    shared_histograms,
)
from hat.quantization.qdtypes import get_qdtype


def test_min_max_and_asymmetric_qparams():
    obs = MinMaxObserver(qdtype="uint8", symmetric=False)
    obs(torch.tensor([-1.0, 0.5, 3.0]))
    assert obs.min_val.item() == -1.0 and obs.max_val.item() == 3.0
    scale, zp = obs.calculate_qparams()
    assert scale.item() == pytest.approx(4.0 / 255)
    assert zp.item() == round(1.0 / (4.0 / 255))  # 64 (63.75 rounds to 64)
    # ReLU output: range [0, m] -> zero point exactly 0 (needed for ORT's Conv+ReLU fusion)
    s, z = qparams_from_range(torch.tensor(0.0), torch.tensor(2.0), get_qdtype("uint8"), False)
    assert z.item() == 0 and s.item() == pytest.approx(2.0 / 255)
    # a range not containing 0 is widened to contain it
    s, z = qparams_from_range(torch.tensor(1.0), torch.tensor(2.0), get_qdtype("uint8"), False)
    assert z.item() == 0 and s.item() == pytest.approx(2.0 / 255)


def test_symmetric_qparams_int8_int16_and_uint8_shifted():
    lo, hi = torch.tensor(-2.0), torch.tensor(1.0)
    s, z = qparams_from_range(lo, hi, get_qdtype("int8"), True)
    assert s.item() == pytest.approx(2.0 / 127) and z.item() == 0
    s, z = qparams_from_range(lo, hi, get_qdtype("int16"), True)
    assert s.item() == pytest.approx(2.0 / 32767) and z.item() == 0
    s, z = qparams_from_range(lo, hi, get_qdtype("uint8"), True)
    assert s.item() == pytest.approx(2.0 / 127) and z.item() == 128


def test_per_channel_min_max():
    obs = MinMaxObserver(qdtype="int8", symmetric=True, ch_axis=0, num_channels=3)
    w = torch.tensor([[1.0, -2.0], [0.5, 0.25], [-4.0, 3.0]])
    obs(w)
    assert obs.min_val.tolist() == [-2.0, 0.25, -4.0]
    assert obs.max_val.tolist() == [1.0, 0.5, 3.0]
    scale, zp = obs.calculate_qparams()
    assert torch.allclose(scale, torch.tensor([2.0, 0.5, 4.0]) / 127)
    assert zp.tolist() == [0, 0, 0]


def test_averaging_constant_semantics():
    # c = 1: the latest batch only
    o = MinMaxObserver(averaging_constant=1.0)
    o(torch.tensor([0.0, 1.0]))
    o(torch.tensor([0.0, 5.0]))
    assert o.max_val.item() == 5.0
    # 0 < c < 1: EMA  max = max + c * (batch_max - max)
    o = MinMaxObserver(averaging_constant=0.25)
    o(torch.tensor([-1.0, 1.0]))  # first observation sets the range
    o(torch.tensor([-3.0, 5.0]))
    assert o.max_val.item() == pytest.approx(1.0 + 0.25 * 4.0)
    assert o.min_val.item() == pytest.approx(-1.0 + 0.25 * -2.0)
    # c = 0: keeps the current range (frozen scale) after the first observation
    o = MinMaxObserver(averaging_constant=0.0)
    o(torch.tensor([-1.0, 2.0]))
    s0 = o.calculate_qparams()[0].item()
    o(torch.tensor([-10.0, 20.0]))
    assert o.calculate_qparams()[0].item() == s0
    with pytest.raises(ValueError):
        MinMaxObserver(averaging_constant=1.5)


def test_percentile_on_uniform_ramp():
    # 100000 values 0..99999 (ramp), 99th percentile of |x|: 99000 (bins align with 1000s)
    x = torch.arange(100000, dtype=torch.float32)
    x[-1] = 100000.0  # makes bin width exactly 100 for 1000 bins
    o = PercentileObserver(percentile=99.0, bins=1000, qdtype="int8", symmetric=True)
    o(x)
    assert o.max_val.item() == pytest.approx(99000.0, abs=100.0)
    assert o.min_val.item() == 0.0
    # asymmetric: both tails clipped at 1% / 99% (within one bin)
    xs = torch.linspace(-50.0, 50.0, 100001)
    o = PercentileObserver(percentile=99.0, bins=1000, qdtype="uint8", symmetric=False)
    o(xs)
    assert o.max_val.item() == pytest.approx(49.0, abs=0.11)
    assert o.min_val.item() == pytest.approx(-49.0, abs=0.11)


def test_mse_clips_outliers_that_cost_more_than_they_save():
    g = torch.Generator().manual_seed(0)
    body = torch.rand(1_000_000, generator=g) * 2 - 1  # uniform [-1, 1]
    x = torch.cat([body, torch.tensor([10.0])])
    mm = MinMaxObserver(qdtype="int8", symmetric=True)
    mm(x)
    assert mm.max_val.item() == 10.0
    o = MSEObserver(qdtype="int8", symmetric=True)
    o(x)
    # keeping 10 costs N * (10/127)^2 / 12 ~ 517 > clipping 1 outlier at ~1: (10-1)^2 = 81
    assert 0.9 <= o.max_val.item() <= 1.5
    # without outliers the full range is best (clipping a uniform body only adds error)
    o2 = MSEObserver(qdtype="int8", symmetric=True)
    o2(body)
    assert o2.max_val.item() == pytest.approx(body.abs().max().item(), rel=0.02)


def test_kl_threshold_between_body_and_outliers():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500_000, generator=g)
    x = torch.cat([x, torch.tensor([40.0, -40.0])])
    o = KLObserver(qdtype="int8", symmetric=True)
    o(x)
    t = o.max_val.item()
    assert 2.0 < t < 20.0, t  # clips the two outliers, keeps the Gaussian body
    assert o.min_val.item() == pytest.approx(-t)
    # few distinct values (all mass on a grid): nothing to clip
    y = torch.tensor([0.0, 1.0, 2.0, 3.0]).repeat(1000)
    o = KLObserver(qdtype="uint8", symmetric=False)
    o(y)
    assert o.max_val.item() == pytest.approx(3.0, rel=1e-3)


def test_uninitialized_observer_raises():
    with pytest.raises(RuntimeError):
        MinMaxObserver().calculate_qparams()
    assert math.isinf(MinMaxObserver().min_val.item())
    assert np.isfinite(MinMaxObserver(ch_axis=0, num_channels=4).min_val.numpy()).sum() == 0


def test_shared_histograms_give_the_results_of_separate_calls(monkeypatch):
    """Inside shared_histograms each histogram kind is computed once for all the observers of
    one tensor; ranges are bit for bit those of separate calls."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 32, generator=g) * 2 + 0.5
    x[0, 0, 0, 0] = 40.0

    def observers() -> list:
        return [
            PercentileObserver(percentile=99.9, qdtype="uint8", symmetric=False),
            PercentileObserver(percentile=99.0, qdtype="uint8", symmetric=False),
            MSEObserver(qdtype="uint8", symmetric=False),
            PercentileObserver(percentile=99.9, qdtype="int8", symmetric=True),
            KLObserver(qdtype="int8", symmetric=True),
            PercentileObserver(percentile=99.9, bins=512, qdtype="uint8", symmetric=False),
        ]

    calls = []
    histc = torch.histc
    monkeypatch.setattr(torch, "histc", lambda *a, **k: calls.append(1) or histc(*a, **k))
    for relu in (False, True):
        alone, shared = observers(), observers()
        for o in alone:
            o(x, relu=relu)
        calls.clear()
        with shared_histograms():
            for o in shared:
                o(x, relu=relu)
        assert len(calls) == 3  # |x| 2048 bins, x 2048 bins, x 512 bins
        for a, b in zip(alone, shared, strict=True):
            assert torch.equal(a.min_val, b.min_val) and torch.equal(a.max_val, b.max_val)
    calls.clear()
    for o in observers():  # outside: one histogram per call again
        o(x)
    assert len(calls) == 6
