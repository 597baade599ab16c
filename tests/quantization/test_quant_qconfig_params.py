"""Per-stage activation observers from the config (``ModelConvertPipeline(qconfig_params=...)``)."""

import pytest
import torch
from quant_helpers import SmallNet, randomize_bn

from hat.quantization import (
    Float2Calibration,
    Float2QAT,
    LoadCheckpoint,
    ModelConvertPipeline,
    PercentileObserver,
    set_fake_quantize,
)
from hat.quantization.observers import MinMaxObserver
from hat.quantization.qconfig_params import apply_qconfig_params
from hat.quantization.utils import fake_quantizers
from hat.registry import build_from_registry

PARAMS = dict(
    activation_calibration_observer="percentile",
    activation_calibration_qkwargs=dict(percentile=99.985, bins=8192),
)


def _act_observers(model):
    return [fq.observer for fq in fake_quantizers(model, weights=False)]


def test_calibration_stage_uses_percentile_and_qat_keeps_min_max(tmp_path):
    pipe = build_from_registry(
        dict(
            type="ModelConvertPipeline",
            qconfig_params=PARAMS,
            converters=[dict(type="Float2Calibration")],
        )
    )
    calib = pipe(randomize_bn(SmallNet()))
    obs = _act_observers(calib)
    assert obs and all(isinstance(o, PercentileObserver) for o in obs)
    assert {(o.percentile, o.bins) for o in obs} == {(99.985, 8192)}
    assert all(isinstance(fq.observer, MinMaxObserver) for fq in fake_quantizers(calib, True))
    # the QAT stage of the same config: default observers, and the calibration state loads
    calib.eval()
    set_fake_quantize(calib, "calibration")
    x = torch.randn(2, 3, 64, 64)
    x[0, 0, 0, 0] = 60.0  # one outlier in 24576 values: the 99.985 percentile ignores it
    with torch.no_grad():
        calib(x)
    quant_max = float(calib.quant.activation_post_process.observer.max_val)
    assert quant_max < 10.0
    path = tmp_path / "calib.pth.tar"
    torch.save({"state_dict": calib.state_dict()}, path)
    qat = ModelConvertPipeline([Float2QAT(), LoadCheckpoint(path)], qconfig_params=PARAMS)(
        randomize_bn(SmallNet())
    )
    assert all(isinstance(o, MinMaxObserver) for o in _act_observers(qat))
    assert float(qat.quant.activation_post_process.observer.max_val) == quant_max


def test_qat_keys_and_averaging_constant():
    model = SmallNet()
    model.set_qconfig()
    n = apply_qconfig_params(
        model,
        dict(activation_qat_observer="mse", activation_qat_qkwargs=dict(averaging_constant=0.0)),
        "qat",
    )
    assert n >= 1
    assert model.qconfig.activation.observer == "mse"
    assert model.qconfig.activation.averaging_constant == 0.0
    assert apply_qconfig_params(model, PARAMS, "qat") == 0  # calibration keys only


@pytest.mark.parametrize(
    "params,match",
    [
        (dict(activation_calib_observer="percentile"), "unknown key"),
        (dict(activation_calibration_observer="p99"), "unknown observer"),
        (
            dict(
                activation_calibration_observer="percentile",
                activation_calibration_qkwargs=dict(percentil=99.0),
            ),
            "percentil",
        ),
        (dict(activation_calibration_qkwargs=dict(bins=10)), "bins"),
    ],
)
def test_bad_params_are_named(params, match):
    with pytest.raises((KeyError, ValueError), match=match):
        ModelConvertPipeline([Float2Calibration()], qconfig_params=params)
