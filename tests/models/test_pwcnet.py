"""PwcNet / PwcnetHead / PwcnetTask: the seed config, shapes, targets, a tiny overfit."""

import copy
import functools
from pathlib import Path

import pytest
import torch
from torch import nn

from hat.models.structures import PwcnetTask
from hat.registry import build_from_registry
from hat.utils.run_config import RunConfig

RECIPE = (
    Path(__file__).resolve().parents[2]
    / "configs/opticalflow_pred/pwcnet/pwcnet_pwcnetneck_flyingchairs.py"
)
WEIGHTS = [0.005, 0.01, 0.02, 0.08, 0.32]


@functools.cache
def _recipe_model() -> dict:
    return dict(RunConfig.load(str(RECIPE)).model_spec())


def model_cfg(out_channels, md=4, decoder_channels=None, context_channels=None, use_res=True):
    """The recipe's PwcNet with other widths, as a float model (no int16 flow output)."""
    cfg = copy.deepcopy(_recipe_model())
    del cfg["int16_flow_output"]
    cfg["backbone"]["out_channels"] = out_channels
    cfg["head"].update(
        in_channels=out_channels,
        md=md,
        use_res=use_res,
        decoder_channels=decoder_channels,
        context_channels=context_channels,
    )
    return cfg


def tiny(md=2, **kw):
    return build_from_registry(
        model_cfg([4, 6, 8, 8, 8, 8], md, [8, 8, 8, 4, 4], [8, 8, 8, 8, 4, 4], **kw)
    )


def scale_targets(gt, strides=(4, 8, 16, 32, 64)):
    """What the Scale batch transform produces: level targets in level pixels."""
    return [
        torch.nn.functional.interpolate(gt, scale_factor=1 / s, mode="bilinear") / s
        for s in strides
    ]


def test_seed_config_builds_default_model():
    cfg = model_cfg([16, 32, 64, 96, 128, 196])
    model = build_from_registry(cfg)
    assert isinstance(model, PwcnetTask)
    n = sum(p.numel() for p in model.parameters())
    assert 9.0e6 < n < 9.7e6  # PWC-Net is ~9.37 M parameters
    # act_type is copied per use, never shared
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == len({id(r) for r in relus}) > 20


def test_train_and_eval_outputs():
    torch.manual_seed(0)
    model = tiny()
    img = torch.randn(2, 6, 128, 192)
    gt = torch.randn(2, 2, 128, 192)
    out = model({"img": img, "gt_flow": scale_targets(gt)})
    assert set(out["losses"]) == {f"flow_loss_l{i}" for i in range(2, 7)}
    assert [tuple(f.shape[-2:]) for f in out["flows"]] == [
        (32, 48),
        (16, 24),
        (8, 12),
        (4, 6),
        (2, 3),
    ]
    assert out["flow"].shape == (2, 2, 128, 192)
    sum(out["losses"].values()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        flow = model({"img": img})
    assert flow.shape == (2, 2, 128, 192)
    # eval output = level-2 flow upsampled x4 and multiplied by 4
    with torch.no_grad():
        l2 = model.head(model.backbone(img))[0]
    up = torch.nn.functional.interpolate(l2, scale_factor=4, mode="bilinear") * 4
    torch.testing.assert_close(flow, up)


def test_loss_weights_and_target_size_mismatch():
    torch.manual_seed(0)
    model = tiny()
    img = torch.randn(1, 6, 128, 128)
    targets = [torch.ones(1, 2, 128 // s + 1, 128 // s + 1) for s in (4, 8, 16, 32, 64)]
    losses = model({"img": img, "gt_flow": targets})["losses"]
    flows = model.head(model.backbone(img))  # BN in train mode is deterministic per batch
    for i, (w, f) in enumerate(zip(WEIGHTS, flows)):
        expected = w * torch.linalg.vector_norm(f - 1, dim=1).mean()
        torch.testing.assert_close(losses[f"flow_loss_l{i + 2}"], expected)
    # a single full-resolution tensor is also accepted
    full = torch.ones(1, 2, 128, 128) * 64
    losses_full = model({"img": img, "gt_flow": full})["losses"]
    torch.testing.assert_close(
        losses_full["flow_loss_l6"], 0.32 * torch.linalg.vector_norm(flows[-1] - 1, dim=1).mean()
    )


def test_odd_input_size_eval():
    model = tiny().eval()
    with torch.no_grad():
        flow = model({"img": torch.randn(1, 6, 100, 150)})
    assert flow.shape == (1, 2, 100, 150)


def test_no_context_and_errors():
    model = tiny(use_res=False)
    assert not any("context" in n for n, _ in model.named_modules())
    with pytest.raises(KeyError, match="gt_flow"):
        model({"img": torch.randn(1, 6, 64, 64)})
    with pytest.raises(ValueError, match="6, H, W"):
        model.eval()({"img": torch.randn(1, 3, 64, 64)})
    bad = copy.deepcopy(model_cfg([4, 6, 8, 8, 8]))
    with pytest.raises(Exception, match="out_channels"):
        build_from_registry(bad)


def test_fuse_model_equalizes_cost_volumes_once_and_keeps_the_function():
    """``fuse_model`` multiplies every level's cost volume by ``quant_cost_volume_gain``
    (default 8) and divides the weights that read it: same float output, applied once."""
    torch.manual_seed(0)
    model = tiny().eval()
    img = torch.randn(1, 6, 64, 64)
    with torch.no_grad():
        before = model({"img": img})
    levels = list(model.head.levels.values())
    assert [lvl.corr.gain for lvl in levels] == [1.0] * 5
    weights_before = [lvl.decoder.convs[0].conv.weight.clone() for lvl in levels]
    model.fuse_model()
    assert [lvl.corr.gain for lvl in levels] == [8.0] * 5
    # the decoder's first conv reads the cost volume first: those input channels are / 8
    for lvl, w0 in zip(levels, weights_before):
        k = lvl.corr.out_channels
        w = lvl.decoder.convs[0].conv.weight
        torch.testing.assert_close(w[:, :k], w0[:, :k] / 8.0)
        assert torch.equal(w[:, k:], w0[:, k:])
    with torch.no_grad():
        after = model({"img": img})
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    assert not torch.equal(after, torch.zeros_like(after))
    model.fuse_model()  # a second call must not rescale again
    assert [lvl.corr.gain for lvl in levels] == [8.0] * 5


def test_set_qconfig_quantizes_model_but_not_loss():
    from hat.quantization import get_default_qconfig

    model = tiny()
    model.set_qconfig()
    assert model.qconfig == get_default_qconfig()
    assert model.qconfig.activation.dtype == "uint8"
    assert model.loss.qconfig is None
    # nothing below the task overrides the default (children inherit the task's qconfig)
    assert getattr(model.backbone, "qconfig", None) is None
    assert getattr(model.head, "qconfig", None) is None
    # int16_flow_output gives the module producing the finest flow int16 activations
    cfg = model_cfg([4, 6, 8, 8, 8, 8], 2, [8, 8, 8, 4, 4], [8, 8, 8, 8, 4, 4])
    m16 = build_from_registry(dict(cfg, int16_flow_output=True))
    m16.set_qconfig()
    out = m16.flow_output_module()
    assert out is m16.head.levels["l2"].res_add
    assert out.qconfig.activation.dtype == "int16"
    assert m16.qconfig.activation.dtype == "uint8"


def _textured_pair(h=128, w=128, shift=(3, 2)):
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, h // 8, w // 8, generator=g)
    img1 = torch.nn.functional.interpolate(base, size=(h, w), mode="bicubic", align_corners=False)
    dx, dy = shift
    img2 = torch.roll(img1, shifts=(dy, dx), dims=(2, 3))  # img2(x + d) = img1(x): flow = d
    img = torch.cat([img1, img2], dim=1) * 2 - 1
    gt = torch.zeros(1, 2, h, w)
    gt[:, 0], gt[:, 1] = dx, dy
    return img, gt


def test_tiny_model_overfits_one_pair():
    """50 Adam steps on one 128x128 pair (about 1.5 s on 2 idle cores)."""
    torch.manual_seed(0)
    model = tiny()
    img, gt = _textured_pair()
    batch = {"img": img, "gt_flow": scale_targets(gt)}
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for _ in range(50):
        loss = sum(model(batch)["losses"].values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert history[-1] < 0.2 * history[0], history[::10]
    model.eval()
    with torch.no_grad():
        flow = model({"img": img})
    mean = flow.mean(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.tensor([3.0, 2.0]), atol=1.0), mean
