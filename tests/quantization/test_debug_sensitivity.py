"""Sensitivity ranking and the int16 top-k recalibration on a net with one known-bad layer."""

import json

import pytest
from debug_nets import OutlierNet, calibrated_outlier_net, epe_evaluator, make_batches

from hat.quantization import (
    FakeQuantState,
    Float2Calibration,
    Float2QAT,
    default_set_qconfig,
    set_fake_quantize,
)
from hat.quantization.debug import (
    Evaluator,
    MetricSpec,
    compare_int16,
    config_snippet,
    featuremap_similarity,
    pick_int16_modules,
    quantize_only,
    sensitivity_candidates,
    sensitivity_html,
    sensitivity_ranking,
    sensitivity_text,
    to_json,
)
from hat.quantization.fake_quantize import FakeQuantize


def test_quantize_only_switches_fake_quants_and_restores_them():
    quant = calibrated_outlier_net(make_batches())
    fqs = {n: m for n, m in quant.named_modules() if isinstance(m, FakeQuantize)}
    assert all(m.fake_quant_enabled and not m.observe_enabled for m in fqs.values())
    with quantize_only(quant, ["c2"]):
        on = sorted(n for n, m in fqs.items() if m.fake_quant_enabled)
        assert on == ["c2.activation_post_process", "c2.weight_fake_quant"]
        assert not any(m.observe_enabled for m in fqs.values())
    assert all(m.fake_quant_enabled and not m.observe_enabled for m in fqs.values())
    set_fake_quantize(quant, FakeQuantState.QAT)
    with pytest.raises(KeyError, match="nope"), quantize_only(quant, ["nope"]):
        pass
    assert all(m.observe_enabled for m in fqs.values())


def test_sensitivity_ranks_the_outlier_layer_first():
    batches = make_batches()
    quant = calibrated_outlier_net(batches)
    assert sensitivity_candidates(quant) == ["quant", "c1", "c2", "c3"]  # dequant has no fq
    report = sensitivity_ranking(quant, epe_evaluator(batches), float_model=OutlierNet().eval())
    assert [r.rank for r in report.rows] == [1, 2, 3, 4]
    first, second = report.rows[0], report.rows[1]
    assert first.name == "c2" and first.degradation > 10 * second.degradation > 0
    assert report.reference["metric"] == 0.0  # nothing quantized == the float net exactly
    assert report.float_model["metric"] == 0.0
    assert report.all_quantized["metric"] >= first.metric > 0.1
    text = sensitivity_text(report)
    assert "EPE (lower is better)" in text and text.splitlines()[7].split()[:2] == ["1", "c2"]
    data = json.loads(to_json(report.to_dict()))
    assert data["rows"][0]["name"] == "c2" and data["reference_nothing_quantized"]["metric"] == 0
    assert "top 4 sensitive modules" not in sensitivity_html(report)  # chart title is in the PNG


def test_metric_direction_and_metricless_ranking():
    assert MetricSpec("EPE").degradation(1.2, 1.0) == pytest.approx(0.2)
    assert MetricSpec("mIoU", higher_is_better=True).degradation(0.7, 0.75) == pytest.approx(0.05)
    batches = make_batches()
    quant = calibrated_outlier_net(batches)
    report = sensitivity_ranking(quant, Evaluator(batches), names=["c1", "c2", "c3"])
    assert report.metric_key is None and all(r.degradation is None for r in report.rows)
    sqnr = [r.output_sqnr_db for r in report.rows]
    assert report.rows[0].name == "c2" and sqnr == sorted(sqnr) and sqnr[0] < 15.0 < sqnr[1]


def test_int16_for_the_top_layer_recovers_the_accuracy():
    batches = make_batches()
    quant = calibrated_outlier_net(batches)
    evaluator = epe_evaluator(batches)
    report = sensitivity_ranking(quant, evaluator)
    modules = pick_int16_modules(report, quant, 1)
    assert modules == ["c2"]
    cmp = compare_int16(OutlierNet().eval(), modules, batches, evaluator)
    mixed = cmp.models["int16"]
    assert mixed.c2.activation_post_process.qdtype.name == "int16"
    assert mixed.c3.activation_post_process.qdtype.name == "uint8"
    assert cmp.int16["metric"] < cmp.baseline["metric"] / 5
    assert cmp.int16["output_sqnr_db"] > cmp.baseline["output_sqnr_db"] + 15.0
    base = featuremap_similarity(OutlierNet().eval(), cmp.models["baseline"], batches)
    better = featuremap_similarity(OutlierNet().eval(), mixed, batches)
    # the crushed channels of c2 recover up to the error its uint8 input already carries
    gain = better.row("c2").stats.min_channel_sqnr_db - base.row("c2").stats.min_channel_sqnr_db
    assert gain > 20.0


def test_int16_comparison_keeps_the_configured_prepare_arguments():
    batches = make_batches()
    configured = {"int16_modules": ["c3"], "qat_mode": "fuse_bn"}  # as in a config's converter
    cmp = compare_int16(OutlierNet().eval(), ["c2"], batches, epe_evaluator(batches),
                        prepare_kwargs=configured)  # fmt: skip
    dtype = lambda m, n: getattr(m, n).activation_post_process.qdtype.name  # noqa: E731
    base, mixed = cmp.models["baseline"], cmp.models["int16"]
    assert [dtype(base, n) for n in ("c2", "c3")] == ["uint8", "int16"]
    assert [dtype(mixed, n) for n in ("c2", "c3")] == ["int16", "int16"]
    assert cmp.modules == ["c2"]


def test_int16_modules_in_converters_and_default_set_qconfig():
    model = Float2Calibration(int16_modules=["c2"])(OutlierNet())
    dtypes = {n: m.activation_post_process.qdtype.name for n in ("quant", "c1", "c2", "c3")
              for m in [getattr(model, n)]}  # fmt: skip
    assert dtypes == {"quant": "uint8", "c1": "uint8", "c2": "int16", "c3": "uint8"}
    assert model.c2.activation_post_process.symmetric
    assert "int16_modules=['c2']" in repr(Float2QAT(int16_modules=["c2"]))
    with pytest.raises(KeyError, match=r"Float2QAT\(int16_modules=...\).*'c9'"):
        Float2QAT(int16_modules=["c9"])(OutlierNet())
    net = OutlierNet()
    default_set_qconfig(net, int16_modules=["c3"])
    assert net.c3.qconfig.activation.dtype == "int16" and net.qconfig.activation.dtype == "uint8"
    net = OutlierNet()
    net.float_modules = ["c1"]
    with pytest.raises(ValueError, match="'c1' has no qconfig"):
        default_set_qconfig(net, int16_modules=["c1"])


def test_config_snippet_sets_every_prepare_converter():
    namespace = {
        "calibration_trainer": {"model_convert_pipeline": {"converters": [
            {"type": "LoadCheckpoint"}, {"type": "Float2Calibration"}]}},
        "qat_predictor": {"model_convert_pipeline": {"converters": [
            {"type": "Float2QAT"}, {"type": "SetFakeQuantState"}]}},
        "float_predictor": {"model": {}},
    }  # fmt: skip
    exec(config_snippet(["head.a", "c2"]), namespace)
    calib = namespace["calibration_trainer"]["model_convert_pipeline"]["converters"]
    qat = namespace["qat_predictor"]["model_convert_pipeline"]["converters"]
    assert calib[1]["int16_modules"] == ["head.a", "c2"] and "int16_modules" not in calib[0]
    assert qat[0]["int16_modules"] == ["head.a", "c2"] and "int16_modules" not in qat[1]
