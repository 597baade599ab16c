"""Calibrator(observer_candidates): the activation observer chosen by the model's output error."""

from __future__ import annotations

import copy

import pytest
import torch
from test_calibrator import TinyQuantNet, float_model, pipeline

from hat.engine import Calibrator
from hat.quantization.observer_selection import (
    activation_quantizers,
    check_candidates,
    output_error,
)

CANDIDATES = [dict(observer="min_max"), dict(observer="percentile", percentile=99.0)]


def outlier_batches(n: int = 3, outliers: bool = True) -> list[dict[str, torch.Tensor]]:
    """Gaussian images; with ``outliers`` one pixel of channel 0 per image is 200 (0.1 % of
    the values, above the 99th percentile)."""
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(n):
        img = torch.randn(4, 3, 16, 16, generator=g)
        if outliers:
            img[:, 0, 0, 0] = 200.0
        out.append({"img": img})
    return out


def blind_model() -> TinyQuantNet:
    """The tiny net with its first conv blind to input channel 0: clipping that channel's
    outliers costs the output nothing, the finer input grid helps it."""
    model = float_model()
    with torch.no_grad():
        model.body.conv.weight[:, 0] = 0.0
    return model


def calibrate(data, candidates=None, selection_batches=3) -> Calibrator:
    cal = Calibrator(
        model=blind_model(), data_loader=data, num_steps=len(data), device="cpu",
        model_convert_pipeline=pipeline(), observer_candidates=candidates,
        selection_batches=selection_batches,
    )  # fmt: skip
    cal.fit()
    return cal


def scales(model) -> dict[str, float]:
    return {name: float(fq.scale) for name, fq in activation_quantizers(model)}


def measured_error(model, data) -> float:
    ref = blind_model()
    fq_model = copy.deepcopy(model)
    with torch.no_grad():
        return sum(output_error(fq_model(b), ref(b)) for b in data) / len(data)


def test_outliers_make_the_percentile_win_and_its_calibration_is_kept_exactly():
    data = outlier_batches()
    chosen = calibrate(data, CANDIDATES)
    assert set(chosen.selection) == {"min_max", "percentile(percentile=99.0)"}
    assert chosen.selection["percentile(percentile=99.0)"] < chosen.selection["min_max"]
    # the kept ranges are those of a plain percentile calibration, bit for bit
    alone = calibrate(data, [CANDIDATES[1]])
    assert scales(chosen.raw_model) == scales(alone.raw_model)
    # and the errors reported are the model's: recomputed independently
    min_max = calibrate(data, [CANDIDATES[0]])
    assert measured_error(min_max.raw_model, data) == pytest.approx(
        chosen.selection["min_max"], rel=1e-6
    )
    assert measured_error(alone.raw_model, data) == pytest.approx(
        chosen.selection["percentile(percentile=99.0)"], rel=1e-6
    )


def test_without_outliers_min_max_wins():
    data = outlier_batches(outliers=False)
    chosen = calibrate(data, CANDIDATES)
    assert chosen.selection["min_max"] < chosen.selection["percentile(percentile=99.0)"]
    assert scales(chosen.raw_model) == scales(calibrate(data, [CANDIDATES[0]]).raw_model)


def test_no_candidates_is_the_models_own_observer():
    data = outlier_batches()
    assert calibrate(data).selection == {}
    assert scales(calibrate(data).raw_model) == scales(calibrate(data, CANDIDATES[:1]).raw_model)


def test_bad_candidates_name_the_entry():
    with pytest.raises(ValueError, match=r"observer_candidates\[1\]: expected dict\(observer="):
        check_candidates([dict(observer="min_max"), dict(observer="median")])
    with pytest.raises(ValueError, match=r"observer_candidates\[0\] percentile\(bogus=1\)"):
        check_candidates([dict(observer="percentile", bogus=1)])
    with pytest.raises(ValueError, match="selection_batches must be a positive int"):
        Calibrator(model=TinyQuantNet(), data_loader=[], selection_batches=0)


def test_output_error_is_relative_per_tensor():
    f = {"a": torch.full((4,), 2.0), "b": torch.full((2,), 100.0), "idx": torch.tensor([1])}
    q = {"a": torch.full((4,), 3.0), "b": torch.full((2,), 110.0), "idx": torch.tensor([7])}
    assert output_error(q, f) == pytest.approx(1 / 4 + 100 / 10000)
    with pytest.raises(ValueError, match="1 and 2 floating-point output tensors"):
        output_error([f["a"]], [f["a"], f["b"]])


def test_observer_choice_refuses_outputs_of_varying_shape():
    from hat.quantization.observer_selection import output_error

    # a tracker's box sets differ in size between the float and the quantized model
    with pytest.raises(ValueError, match="observer_candidates=None"):
        output_error({"boxes": torch.zeros(3, 4)}, {"boxes": torch.zeros(5, 4)})
