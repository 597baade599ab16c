"""Feature-map similarity: float vs calibration / integer models of tiny nets with known errors."""

import json
import math

import pytest
import torch
from debug_nets import OUTLIER, OutlierNet, RescaledNet, calibrated_outlier_net, make_batches

from hat.quantization import convert
from hat.quantization.converters import Float2Calibration
from hat.quantization.debug import (
    DiffStats,
    calibrate,
    featuremap_similarity,
    quantize_only,
    quantized_units,
    real_values,
    similarity_html,
    similarity_text,
    write_report_files,
)
from hat.quantization.qtensor import make_qtensor
from hat.tools.quant_analysis_setup import fused_reference

NAMES = ["quant", "c1", "c2", "c3", "dequant", "[output]"]


def test_identical_models_give_cosine_one_and_infinite_sqnr():
    batches = make_batches()
    quant = calibrated_outlier_net(batches)
    with quantize_only(quant, []):  # every fake quant passes through: the float function
        report = featuremap_similarity(OutlierNet().eval(), quant, batches)
    assert [r.name for r in report.layers] == NAMES
    for row in report.layers:
        s = row.stats
        assert s.elements > 0 and s.max_abs_err == 0.0, row.name
        assert s.cosine == 1.0 and math.isinf(s.sqnr_db) and s.sqnr_db > 0
        assert row.stats.max_err_lsb in (0.0, None)


def test_rows_follow_execution_order_and_carry_dtype_and_scale():
    batches = make_batches()
    quant = calibrated_outlier_net(batches)
    report = featuremap_similarity(OutlierNet().eval(), quant, batches)
    assert [r.index for r in report.layers] == list(range(6))
    c2 = report.row("c2")
    assert c2.module_type == "QATConvModule2d" and c2.dtype == "uint8"
    fq = quant.c2.activation_post_process
    assert c2.stats.lsb == float(fq.scale)
    # uint8 per tensor over about [-1, OUTLIER]: the step is about OUTLIER / 255
    assert OUTLIER / 256 < c2.stats.lsb < OUTLIER / 240
    assert report.row("dequant").stats.lsb == float(quant.c3.activation_post_process.scale)
    assert report.row("[output]").stats.lsb is None


def test_outlier_layer_has_the_worst_channel_sqnr_and_flags_downstream():
    batches = make_batches()
    report = featuremap_similarity(OutlierNet().eval(), calibrated_outlier_net(batches), batches)
    c1, c2, c3 = (report.row(n).stats for n in ("c1", "c2", "c3"))
    # the outlier channel keeps c2's cosine high; its other channels are crushed
    assert c2.cosine > 0.999 and c2.min_channel_sqnr_db < 10.0 < 30.0 < c1.min_channel_sqnr_db
    assert report.worst(1, key="min_channel_sqnr_db")[0].name == "c2"
    assert c3.cosine < 0.99 and c3.sqnr_db < 15.0
    assert report.worst(1)[0].name in ("c3", "dequant", "[output]")
    text = similarity_text(report, threshold=0.99)
    flagged = [line.split()[2] for line in text.splitlines() if line.split()[1:2] == ["*"]]
    assert flagged == ["c3", "dequant", "[output]"]


def test_coarse_scale_makes_its_layer_the_first_bad_one():
    batches = make_batches(outlier=0.0)
    quant = calibrated_outlier_net(batches, outlier=0.0)
    clean = featuremap_similarity(OutlierNet(outlier=0.0).eval(), quant, batches)
    assert all(r.stats.cosine > 0.999 for r in clean.layers)
    with torch.no_grad():
        quant.c2.activation_post_process.scale.mul_(40.0)  # sabotage: 40x too coarse
    bad = featuremap_similarity(OutlierNet(outlier=0.0).eval(), quant, batches)
    first_bad = next(r for r in bad.layers if r.stats.cosine < 0.99)
    assert first_bad.name == "c2"
    assert bad.row("c2").stats.sqnr_db < clean.row("c2").stats.sqnr_db - 20.0
    assert bad.row("c1").stats.sqnr_db == clean.row("c1").stats.sqnr_db


def test_integer_model_matches_the_fake_quant_model():
    batches = make_batches()
    quant = calibrated_outlier_net(batches)
    fq_report = featuremap_similarity(OutlierNet().eval(), quant, batches)
    int_model = convert(quant)
    assert [n for n, _ in quantized_units(int_model)] == NAMES[:-1]
    int_report = featuremap_similarity(OutlierNet().eval(), int_model, batches)
    assert [r.module_type for r in int_report.layers[:2]] == ["IntQuantStub", "IntConv2d"]
    for a, b in zip(fq_report.layers, int_report.layers):
        assert a.name == b.name and a.stats.lsb == b.stats.lsb
        assert abs(a.stats.cosine - b.stats.cosine) < 1e-4, a.name
        assert b.stats.max_abs_err <= a.stats.max_abs_err + 1.01 * (a.stats.lsb or 0.0)


def test_real_values_and_stats_numbers():
    q = make_qtensor(torch.tensor([0, 128, 255], dtype=torch.uint8), torch.tensor(0.5),
                     torch.tensor(128, dtype=torch.int32), "uint8")  # fmt: skip
    assert real_values(q).tolist() == [-64.0, 0.0, 63.5]
    s = DiffStats()
    s.update(torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 3.0]]), lsb=0.5)
    assert s.cosine == pytest.approx(21 / (5 * math.sqrt(18)), rel=1e-12)
    assert abs(s.sqnr_db - 10 * math.log10(25.0)) < 1e-12
    assert s.max_abs_err == 1.0 and s.max_err_lsb == 2.0 and s.mean_abs_err == 0.5
    assert s.min_channel_sqnr_db == pytest.approx(10 * math.log10(16.0), rel=1e-12)


def test_reports_are_written_as_text_html_and_strict_json(tmp_path):
    batches = make_batches()
    quant = calibrated_outlier_net(batches)
    with quantize_only(quant, ["c2"]):
        report = featuremap_similarity(OutlierNet().eval(), quant, batches)
    html = similarity_html(report, threshold=0.99)
    paths = write_report_files(str(tmp_path), "sim", similarity_text(report), report.to_dict(),
                               html)  # fmt: skip
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["sim.html", "sim.json", "sim.txt"]
    data = json.loads((tmp_path / "sim.json").read_text())
    rows = {r["name"]: r for r in data["layers"]}
    assert rows["c1"]["sqnr_db"] == "inf" and rows["c1"]["cosine"] == 1.0
    assert rows["c3"]["cosine"] < 0.99
    assert html.count('class="bad') == 3  # c3, dequant, [output]
    assert "data:image/png;base64," in html and "<script>" in html


def test_reference_is_the_fused_float_model_when_fusion_reparametrises():
    batches = make_batches(outlier=0.0)
    float_model = RescaledNet(outlier=0.0).eval()
    quant = calibrate(Float2Calibration()(RescaledNet(outlier=0.0)), batches)  # fuses inside
    raw = featuremap_similarity(float_model, quant, batches)
    fused = featuremap_similarity(fused_reference(float_model), quant, batches)
    assert not hasattr(float_model, "_rescaled")  # the reference is a fused copy
    # c2's output is 8x the unfused float one: compared raw, the error is 7x the signal
    assert raw.row("c2").stats.sqnr_db < -15.0 < 25.0 < fused.row("c2").stats.sqnr_db
    assert raw.row("[output]").stats.sqnr_db == fused.row("[output]").stats.sqnr_db
