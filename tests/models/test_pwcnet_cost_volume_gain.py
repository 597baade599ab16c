"""The cost-volume equalization applied by ``PwcnetHead.fuse_model`` keeps the float function."""

import copy
import importlib.util
import pathlib

import pytest
import torch

from hat.registry import build_from_registry

CFG = pathlib.Path(__file__).with_name("tiny_pwcnet_config.py")


def _model(**head_kw):
    spec = importlib.util.spec_from_file_location("tiny_pwcnet_cfg_gain", CFG)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg = copy.deepcopy(mod.model)
    cfg["head"].update(head_kw)
    return build_from_registry(cfg)


@pytest.mark.parametrize("use_dense", [True, False])
def test_fuse_model_gain_preserves_flow(use_dense):
    torch.manual_seed(0)
    model = _model(use_dense=use_dense, quant_cost_volume_gain=8.0).eval()
    for m in model.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    x = {"img": torch.rand(1, 6, 64, 128) * 2 - 1}
    with torch.no_grad():
        ref = model(x)
        model.fuse_model()
        model.fuse_model()  # applied once only
        out = model(x)
    assert model.head.levels["l3"].corr.gain == 8.0
    assert float(ref.abs().max()) > 0
    assert torch.allclose(out, ref, atol=1e-5 * float(ref.abs().max()))


def test_gain_scales_cost_volume():
    model = _model(quant_cost_volume_gain=4.0)
    level = model.head.levels["l3"]
    f1, f2 = torch.rand(1, 8, 6, 8), torch.rand(1, 8, 6, 8)
    before = level.corr(f1, f2)
    model.fuse_model()
    assert torch.allclose(level.corr(f1, f2), 4.0 * before)
