"""End to end on the tiny PwcNet (Correlation, Warp islands, float post-processing)."""

import importlib.util
import pathlib

import numpy as np
import pytest
import torch

from hat.engine.calibrator import Calibrator
from hat.quantization.converters import Float2Calibration, QAT2Quantize
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import optimized_op_counts, run_onnx
from hat.registry import build_from_registry

CFG = pathlib.Path(__file__).parents[1] / "models" / "tiny_pwcnet_config.py"
pytestmark = pytest.mark.skipif(not CFG.exists(), reason="tiny PwcNet config not available")


def _tiny_model():
    spec = importlib.util.spec_from_file_location("tiny_pwcnet_cfg_q", CFG)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return build_from_registry(mod.model)


def test_pwcnet_int_model_matches_ort(tmp_path):
    torch.manual_seed(0)
    model = _tiny_model().eval()
    g = torch.Generator().manual_seed(0)
    batches = [{"img": torch.rand(1, 6, 64, 128, generator=g) * 2 - 1} for _ in range(3)]
    x = batches[0]["img"]
    with torch.no_grad():
        y_float = model({"img": x})
    model = Float2Calibration()(model)
    Calibrator(model, batches, num_steps=3).fit()
    with torch.no_grad():
        y_qat = model({"img": x})
    im = QAT2Quantize()(model)
    y_int = im({"img": x})
    # same integer codes; the float post-processing resize differs by float32 rounding only
    assert (y_int - y_qat).abs().max() <= 1e-5 * y_qat.abs().max()
    assert (y_int - y_float).abs().max() < 0.25 * y_float.abs().max()
    path = tmp_path / "pwc.onnx"
    rep = export_int_model_to_onnx(im, {"img": x}, path)
    assert len(rep.float_islands) == 4  # one Warp per level below the top
    for level in ("disable", "all"):
        y = run_onnx(path, {"img": x}, level=level)["output"]
        assert np.array_equal(y, y_int.numpy()), (level, np.abs(y - y_int.numpy()).max())
    counts = optimized_op_counts(path)
    n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in _tiny_model().modules())
    assert counts["QLinearConv"] == n_conv
