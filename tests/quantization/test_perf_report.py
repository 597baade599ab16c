"""The compile/perf report: settings from a config's compile_cfg, the analytical accelerator
estimate by hand, and a real exported two-conv model measured on ONNX Runtime."""

import copy
import os

import pytest
import torch
from quant_helpers import quantize_model
from torch import nn

from hat.errors import UserInputError
from hat.nn import ConvModule2d, DeQuantStub, QuantStub
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.perf_report import (
    AcceleratorModel,
    PerfSettings,
    measure_perf,
    onnx_weight_stats,
)


def test_settings_from_compile_cfg():
    assert PerfSettings.from_mapping(None, "cfg") == PerfSettings()
    s = PerfSettings.from_mapping(
        dict(tops=4, bandwidth_gbps=10.0, efficiency=0.25, perf_runs=7, warmup_runs=0), "cfg"
    )
    assert s.accelerator == AcceleratorModel(tops=4.0, bandwidth_gbps=10.0, efficiency=0.25)
    assert (s.perf_runs, s.warmup_runs) == (7, 0)
    assert PerfSettings.from_mapping(dict(tops=8), "cfg").accelerator.bandwidth_gbps == 68.0
    with pytest.raises(UserInputError, match=r"config x.py: compile_cfg: unknown keys \['top'\]"):
        PerfSettings.from_mapping(dict(top=8), "config x.py: compile_cfg")
    with pytest.raises(UserInputError, match=r"cfg.efficiency is 1.5; expected a fraction"):
        PerfSettings.from_mapping(dict(efficiency=1.5), "cfg")
    with pytest.raises(UserInputError, match=r"cfg.tops is '96'; expected a number"):
        PerfSettings.from_mapping(dict(tops="96"), "cfg")
    with pytest.raises(UserInputError, match=r"cfg.perf_runs is 0; expected an int >= 1"):
        PerfSettings.from_mapping(dict(perf_runs=0), "cfg")


def test_accelerator_estimate_by_hand():
    accel = AcceleratorModel(tops=1.0, bandwidth_gbps=68.0, efficiency=0.5)
    # 1e9 MACs = 2e9 ops at 0.5e12 op/s: 4 ms; 68e6 bytes at 68e9 B/s: 1 ms
    est = accel.estimate(10**9, 68 * 10**6)
    assert (est["compute_ms"], est["memory_ms"], est["latency_ms"]) == (4.0, 1.0, 4.0)
    assert est["fps"] == 250.0 and "not a measurement" in est["label"]
    est = accel.estimate(10**6, 680 * 10**6)  # memory bound: 10 ms
    assert est["latency_ms"] == est["memory_ms"] == 10.0


class TwoConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = QuantStub()
        self.c1 = ConvModule2d(3, 8, 3, padding=1, act_layer=nn.ReLU())
        self.c2 = ConvModule2d(8, 4, 1)
        self.dequant = DeQuantStub()

    def forward(self, data):
        return self.dequant(self.c2(self.c1(self.quant(data["img"]))))


def test_measure_perf_on_an_exported_model(tmp_path):
    torch.manual_seed(0)
    inputs = {"img": torch.rand(1, 3, 8, 8) * 2 - 1}
    float_model = TwoConvs().eval()
    _, int_model = quantize_model(copy.deepcopy(float_model), [(inputs,)])
    path = str(tmp_path / "two.int.onnx")
    export_int_model_to_onnx(int_model, inputs, path)

    settings = PerfSettings(AcceleratorModel(tops=1.0), perf_runs=4, warmup_runs=1)
    report = measure_perf(path, float_model, inputs, settings, threads=1)

    assert report.macs == 8 * 8 * 8 * 3 * 9 + 8 * 8 * 4 * 8  # per output pixel: Cout * Cin * k*k
    assert report.op_counts["QLinearConv"] == 2
    assert report.integer_ops >= 2 and report.float_compute_ops == 0
    assert os.path.isfile(report.optimized_model) and report.optimized_model.endswith(".opt.onnx")
    params, weight_bytes = onnx_weight_stats(path)
    assert (report.params, report.weight_bytes) == (params, weight_bytes)
    # weights and biases of the two convs; per-channel scales and zero points are not parameters
    assert params == (8 * 3 * 9 + 8) + (4 * 8 + 4)
    # bytes: int8 weights; per output channel a float32 weight scale, an int8 weight zero point,
    # an int32 bias, a float32 bias scale and an int32 bias zero point (4+1+4+4+4 = 17); six
    # scalar (float32 scale, uint8 zero point) pairs: the input, each conv's input and output,
    # and the output's dequantization
    assert weight_bytes == (216 + 32) + (8 + 4) * 17 + 6 * (4 + 1) == 482
    assert report.latency.runs == 4 and report.latency.warmup_runs == 1
    assert 0 < report.latency.min_ms <= report.latency.median_ms
    # the estimate moves the weights and the uint8 input (3 * 8 * 8 bytes)
    assert report.accelerator_estimate == settings.accelerator.estimate(
        report.macs, weight_bytes + 3 * 8 * 8
    )
    d = report.to_dict()
    assert d["flops"] == 2 * d["macs"] and d["latency"]["median_ms"] > 0
    assert d["op_classes"]["integer"]["QLinearConv"] == 2
    assert d["deploy_platform"]["weights"] in ("full-range int8", "reduced (7-bit)")
    text = report.render_text()
    assert f"MACs {report.macs}, params {params}, weight bytes {weight_bytes}" in text
    assert "over 4 runs after 1 warm-up, 1 thread(s)" in text
    page = report.render_html("a <note>")
    assert "a &lt;note&gt;" in page and "<td>QLinearConv</td><td>2</td>" in page


def test_measure_perf_names_what_is_missing(tmp_path):
    with pytest.raises(UserInputError, match="no exported model at .*nothing.onnx"):
        measure_perf(str(tmp_path / "nothing.onnx"), TwoConvs(), {"img": torch.rand(1, 3, 8, 8)})
