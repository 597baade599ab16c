"""Calibrator(observer_candidates) observes every candidate in the one calibration pass.

On the tiny UNet-MobileNetV1 of the stage tests and rendered street scenes: the same chosen
observer, activation scales, zero points and reported errors as the former algorithm (one
calibration pass over the batches per candidate), and one observing forward per batch.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_calibrator import float_model, pipeline
from test_calibrator_observer_selection import blind_model, outlier_batches

from hat.data.synthetic.cityscapes import render_scene
from hat.engine import Calibrator
from hat.engine.calibrator import CalibrationBatches
from hat.quantization.fake_quantize import FakeQuantize, FakeQuantState, set_fake_quantize
from hat.quantization.observer_selection import (
    DEFAULT_OBSERVER_CANDIDATES,
    ActivationState,
    CandidateObservers,
    activation_quantizers,
    candidate_label,
    output_error,
    restore_activation_state,
    save_activation_state,
    set_activation_observer,
)
from hat.registry import build_from_registry
from hat.utils.config import Config

TINY_UNET = Path(__file__).resolve().parents[1] / "tools" / "tiny_unet_stages_config.py"
# every observer kind; the EMA candidate last (the former passes leaked a candidate's
# averaging_constant into the next candidates)
CANDIDATES = [
    *DEFAULT_OBSERVER_CANDIDATES,
    dict(observer="kl"),
    dict(observer="percentile", percentile=99.9, averaging_constant=0.5),
]
NUM_STEPS, SELECTION_BATCHES = 3, 2


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class PerCandidatePasses(Calibrator):
    """The former algorithm, for reference: the batches observed again for every candidate
    after the main pass, then every candidate evaluated with a fresh copy of its observers."""

    def _begin_loop(self) -> None:
        self.model.eval()
        set_activation_observer(self.model, (self.observer_candidates or [])[0])
        set_fake_quantize(self.model, FakeQuantState.CALIBRATION)

    def _end_loop(self) -> None:
        states = [save_activation_state(self.model)]
        for candidate in (self.observer_candidates or [])[1:]:
            set_activation_observer(self.model, candidate)
            set_fake_quantize(self.model, FakeQuantState.CALIBRATION)
            for step, batch in enumerate(CalibrationBatches(self._source_loader, self.num_steps)):
                self._forward(step, batch)
            states.append(save_activation_state(self.model))
        self._evaluate(states)
        set_fake_quantize(self.model, FakeQuantState.VALIDATION)

    def _evaluate(self, states: list[ActivationState]) -> None:
        quantizers = [m for m in self.model.modules() if isinstance(m, FakeQuantize)]
        errors = torch.zeros(len(states), dtype=torch.float64)
        batches = CalibrationBatches(self._source_loader, self.selection_batches)
        for step, batch in enumerate(batches):
            for fq in quantizers:
                fq.observe_enabled = fq.fake_quant_enabled = False
            reference = self._forward(step, batch)
            for i, state in enumerate(states):
                restore_activation_state(self.model, state)
                set_fake_quantize(self.model, FakeQuantState.VALIDATION)
                errors[i] += output_error(self._forward(step, batch), reference)
        errors /= self.selection_batches
        restore_activation_state(self.model, states[int(torch.argmin(errors))])
        self.selection = {
            candidate_label(c): float(e)
            for c, e in zip(self.observer_candidates or [], errors, strict=True)
        }


def street_batches(n: int = NUM_STEPS, batch_size: int = 2) -> list[dict[str, torch.Tensor]]:
    """Rendered 64x128 street scenes, normalised like the recipe's images ((x - 128) / 128)."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        imgs = [render_scene(rng, 64, 128).image for _ in range(batch_size)]
        img = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
        out.append({"img": (img - 128.0) / 128.0})
    return out


@pytest.fixture(scope="module")
def tiny_unet() -> tuple[dict[str, Any], dict[str, Any]]:
    """The tiny stage config's model dict and its calibration pipeline without the float
    checkpoint (the float weights are the seeded initial ones)."""
    cfg = Config.fromfile(str(TINY_UNET))
    pipe = dict(cfg.calibration_trainer["model_convert_pipeline"])
    pipe["converters"] = [c for c in pipe["converters"] if c.get("type") != "LoadCheckpoint"]
    return copy.deepcopy(cfg.model), pipe


def calibrate(tiny_unet, data, cls=Calibrator, forwards: Counter | None = None) -> Calibrator:
    """Calibrate the tiny UNet on ``data``; ``forwards`` counts the model's forwards by what
    its quantizers do (observe / float / quantize)."""
    model_cfg, pipe = tiny_unet
    torch.manual_seed(0)
    cal = cls(
        model=build_from_registry(copy.deepcopy(model_cfg)), data_loader=data,
        num_steps=NUM_STEPS, device="cpu", model_convert_pipeline=copy.deepcopy(pipe),
        observer_candidates=CANDIDATES, selection_batches=SELECTION_BATCHES,
    )  # fmt: skip
    cal.prepare()
    if forwards is not None:
        fq = activation_quantizers(cal.model)[0][1]

        def count(module, args) -> None:
            mode = "quantized" if fq.fake_quant_enabled else "float"
            forwards["observing" if fq.observe_enabled else mode] += 1

        cal.model.register_forward_pre_hook(count)
    cal.fit()
    return cal


def qparams(model) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {n: (fq.scale.clone(), fq.zero_point.clone()) for n, fq in activation_quantizers(model)}


def test_one_pass_equals_one_pass_per_candidate_on_a_real_network(tiny_unet):
    data = street_batches()
    forwards: Counter = Counter()
    single = calibrate(tiny_unet, data, forwards=forwards)
    former = calibrate(tiny_unet, data, cls=PerCandidatePasses)
    # one observing forward per calibration batch; the float and per-candidate evaluations
    assert forwards == {
        "observing": NUM_STEPS,
        "float": SELECTION_BATCHES,
        "quantized": SELECTION_BATCHES * len(CANDIDATES),
    }
    assert single.selection == former.selection  # every candidate's error, bit for bit
    assert len(set(single.selection.values())) > 1  # the candidates do differ here
    mine, theirs = qparams(single.raw_model), qparams(former.raw_model)
    assert len(mine) > 50 and mine.keys() == theirs.keys()
    for name, (scale, zp) in mine.items():
        assert torch.equal(scale, theirs[name][0]) and torch.equal(zp, theirs[name][1]), name
    for name, fq in activation_quantizers(single.raw_model):
        other = dict(activation_quantizers(former.raw_model))[name]
        assert type(fq.observer) is type(other.observer), name
    # the rest of the state too, but the input scales the modules record in every forward: the
    # former passes left the last evaluated candidate's there, now they are the winner's
    recorded = ("input_scale", "input_zero_point")
    differ = {
        key
        for key, value in former.raw_model.state_dict().items()
        if not torch.equal(single.raw_model.state_dict()[key], value)
    }
    assert all(key.endswith(recorded) for key in differ), differ
    winner = min(single.selection, key=single.selection.get)
    assert (winner == candidate_label(CANDIDATES[-1])) == (not differ)
    assert_inputs_recorded_with_kept_scales(single.raw_model, street_batches()[:1])


def assert_inputs_recorded_with_kept_scales(model, data) -> None:
    """One more forward of the frozen model records the same input scales: the kept ones
    belong to the kept activation scales."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    with torch.no_grad():
        model(data[0])
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_kept_state_is_a_calibration_with_the_winner_alone():
    """Scales and every other buffer (the recorded input scales too), whichever candidate wins
    and wherever it is in the list."""
    for outliers, candidates in (
        (True, [dict(observer="percentile", percentile=99.0), dict(observer="min_max")]),
        (False, [dict(observer="min_max"), dict(observer="percentile", percentile=99.0)]),
    ):
        data = outlier_batches(outliers=outliers)
        chosen = calibrate_tiny(data, candidates)
        winner = candidates[0]
        assert min(chosen.selection, key=chosen.selection.get) == candidate_label(winner)
        alone = calibrate_tiny(data, [winner]).raw_model.state_dict()
        for key, value in chosen.raw_model.state_dict().items():
            assert torch.equal(value, alone[key]), key


def calibrate_tiny(data, candidates) -> Calibrator:
    cal = Calibrator(
        model=blind_model(), data_loader=data, num_steps=len(data), device="cpu",
        model_convert_pipeline=pipeline(), observer_candidates=candidates, selection_batches=3,
    )  # fmt: skip
    cal.fit()
    return cal


def test_every_candidate_observes_as_a_calibration_with_it_alone():
    """CandidateObservers.states()[k] is what a calibration with candidate k leaves behind,
    also for a candidate after one with its own averaging constant."""
    candidates = [
        dict(observer="min_max", averaging_constant=1.0),
        dict(observer="mse"),
        dict(observer="percentile", percentile=99.0),
    ]
    data = outlier_batches()
    model = Calibrator(
        model=float_model(), data_loader=data, device="cpu", model_convert_pipeline=pipeline()
    )
    model.prepare()
    prepared = model.model
    alone = []
    for candidate in candidates:
        m = copy.deepcopy(prepared)
        set_activation_observer(m, candidate)
        set_fake_quantize(m, FakeQuantState.CALIBRATION)
        with torch.no_grad():
            for batch in data:
                m(batch)
        alone.append(save_activation_state(m))
    observers = CandidateObservers(prepared, candidates)
    set_fake_quantize(prepared, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for batch in data:
            prepared(batch)
    observers.detach()
    for k, state in enumerate(observers.states()):
        for name, (observer, scale, zp) in state.items():
            ref_observer, ref_scale, ref_zp = alone[k][name]
            assert torch.equal(scale, ref_scale) and torch.equal(zp, ref_zp), (k, name)
            assert observer.averaging_constant == ref_observer.averaging_constant
            assert torch.equal(observer.min_val, ref_observer.min_val)
            assert torch.equal(observer.max_val, ref_observer.max_val)
    # detached: the other candidates observe nothing more
    before = [o.min_val.clone() for obs in observers.observers.values() for o in obs[1:]]
    with torch.no_grad():
        prepared({"img": data[0]["img"] * 10})
    after = [o.min_val for obs in observers.observers.values() for o in obs[1:]]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
