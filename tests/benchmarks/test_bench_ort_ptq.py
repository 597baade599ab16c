"""ORT's own quantize_static as bench_ort_ptq.py drives it: calibration served in strides
(CalibStridedMinMax) gives exactly the scales of one pass for MinMax, and every sample is seen."""

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_ort_ptq  # noqa: E402


@pytest.mark.parametrize(
    ("samples", "most", "expected"),
    [(160, 8, 8), (20, 8, 5), (7, 8, 7), (13, 8, 1), (3, 1, 1), (12, 0, 1)],
)
def test_calibration_chunk_divides_the_sample_count(samples, most, expected):
    assert bench_ort_ptq.calibration_chunk(samples, most) == expected


def _float_model(path: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)
    ).eval()
    torch.onnx.export(net, (torch.randn(1, 3, 16, 16),), str(path), input_names=["x"],
                      output_names=["y"], dynamo=False)  # fmt: skip


def _activation_scales(path: Path) -> dict[str, float]:
    """Scale initialisers of the QuantizeLinear nodes (activations), by tensor name."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {
        n.input[0]: float(inits[n.input[1]])
        for n in model.graph.node
        if n.op_type == "QuantizeLinear" and n.input[1] in inits
    }


def test_strided_minmax_equals_one_pass(tmp_path):
    float_path = tmp_path / "net.onnx"
    _float_model(float_path)
    rng = np.random.default_rng(0)
    # the largest values sit in the last sample: a stride that skipped it would shrink the ranges
    feeds = [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(11)]
    feeds[-1]["x"] *= 6.0
    one = tmp_path / "one.onnx"
    strided = tmp_path / "strided.onnx"

    def quantize(samples, out, chunk):
        return bench_ort_ptq.ort_quantize(str(float_path), samples, "MinMax", str(out), chunk)

    assert quantize(feeds, one, 11) == 11
    assert quantize(feeds, strided, 4) == 1  # 11 is prime: strides of one sample
    even, even_one = tmp_path / "even.onnx", tmp_path / "even_one.onnx"
    assert quantize(feeds[:10], even, 4) == 2
    assert quantize(feeds[:10], even_one, 10) == 10
    a, b = _activation_scales(one), _activation_scales(strided)
    assert a and a == b
    c, d = _activation_scales(even), _activation_scales(even_one)
    assert c and c == d
    # the scaled last sample widened the input range of the 11-sample calibration
    assert a["x"] > c["x"] * 3
