"""Float modules spliced into the integer graph: the exporter used is reported, and a dynamo
failure falls back to the TorchScript exporter loudly."""

import logging

import numpy as np
import pytest
import torch
from quant_helpers import quantize_model

import hat.nn as hnn
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx

LOGGER = "hat.quantization.export_onnx"


class _PostWarpNet(torch.nn.Module):
    """conv -> DeQuantStub -> Warp on float tensors (float post-processing): the integer model
    runs the float Warp and the export splices torch's ONNX export of it into the graph."""

    def __init__(self):
        super().__init__()
        self.q = hnn.QuantStub()
        self.conv = hnn.ConvModule2d(4, 4, 3, padding=1)
        self.dq = hnn.DeQuantStub()
        self.warp = hnn.Warp()

    def forward(self, feat, flow):
        return self.warp(self.dq(self.conv(self.q(feat))), flow)


@pytest.fixture()
def int_warp_net():
    torch.manual_seed(0)
    data = [(torch.randn(1, 4, 8, 12), torch.randn(1, 2, 8, 12) * 2) for _ in range(3)]
    _, im = quantize_model(_PostWarpNet(), data)
    feat, flow = torch.randn(1, 4, 8, 12), torch.randn(1, 2, 8, 12) * 2
    with torch.no_grad():
        y = im(feat, flow)
    return im, {"feat": feat, "flow": flow}, y


def _export_and_run(im, inputs, path):
    rep = export_int_model_to_onnx(im, inputs, path)
    out = run_onnx(path, {k: v.numpy() for k, v in inputs.items()}, level="all")
    return rep, next(iter(out.values()))


def test_dynamo_exporter_is_reported(int_warp_net, tmp_path, caplog):
    im, inputs, y_int = int_warp_net
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rep, got = _export_and_run(im, inputs, tmp_path / "warp.onnx")
    assert rep.float_exporters == {"warp.float_module": "dynamo"}
    assert not [r for r in caplog.records if r.name == LOGGER]
    np.testing.assert_allclose(got, y_int.numpy(), rtol=1e-6, atol=1e-6)


def test_dynamo_failure_falls_back_with_a_warning(int_warp_net, tmp_path, caplog, monkeypatch):
    im, inputs, y_int = int_warp_net
    real_export = torch.onnx.export

    def export_without_dynamo(*args, dynamo=True, **kwargs):
        if dynamo:
            raise RuntimeError("dynamo cannot trace this module")
        return real_export(*args, dynamo=False, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", export_without_dynamo)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rep, got = _export_and_run(im, inputs, tmp_path / "warp_ts.onnx")
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert [w.getMessage().split(":")[0] for w in warnings] == [
        "float module warp.float_module (Warp)"
    ]
    for w in warnings:
        message = w.getMessage()
        assert "RuntimeError: dynamo cannot trace this module" in message
        assert "TorchScript exporter (dynamo=False, opset 20)" in message
    assert rep.float_exporters == {"warp.float_module": "torchscript"}
    # the TorchScript graphs still deploy: ORT computes what the integer model computes
    np.testing.assert_allclose(got, y_int.numpy(), rtol=1e-6, atol=1e-6)
