"""DwUnet, SegHead and Segmentor: shapes, train/eval contract, deploy argmax, quantization."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from hat.models.necks import DwUnet
from hat.quantization import FakeQuantState, convert, prepare_qat, set_fake_quantize
from hat.registry import build_from_registry

BN = dict(eps=2e-5, momentum=0.1)
SCALES = (4, 8, 16, 32, 64)


def seg_cfg(deploy=False, num_classes=19):
    """The recipe's model dict (configs/segmentation/unet_mobilenetv1_cityscapes.py)."""
    scales = (4,) if deploy else SCALES
    cfg = dict(
        type="Segmentor",
        backbone=dict(
            type="MobileNetV1", num_classes=-1, bn_kwargs=BN, alpha=0.25, dw_with_relu=True,
            include_top=False, flat_output=False,
        ),
        neck=dict(
            type="DwUnet", base_channels=8, bn_kwargs=BN, act_type=nn.ReLU, use_deconv=False,
            dw_with_relu=True, output_scales=scales,
        ),
        head=dict(
            type="SegHead", num_classes=num_classes, in_strides=scales, out_strides=scales,
            stride2channels={s: 8 * s for s in SCALES}, feat_channels=[8 * s for s in scales],
            stacked_convs=0, argmax_output=deploy, dequant_output=not deploy, int8_output=True,
            upscale=False, output_with_bn=True, bn_kwargs=BN,
        ),
    )  # fmt: skip
    if not deploy:
        cfg["losses"] = dict(
            type="ClassificationFocalLoss", loss_name="Focal", num_classes=num_classes,
            weight=tuple(np.array((256, 128, 64, 32, 16)) / 19), reduction="mean",
        )  # fmt: skip
    return cfg


def test_dwunet_channels_are_base_times_stride():
    neck = DwUnet(base_channels=8, output_scales=(4, 16, 64)).eval()
    feats = [torch.randn(1, 8 * s, 128 // s, 256 // s) for s in (2, 4, 8, 16, 32)]
    with torch.no_grad():
        outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 32, 32, 64), (1, 128, 8, 16), (1, 512, 2, 4)]
    assert len(neck.stages) == 4 and neck.num_inputs == 4
    with pytest.raises(ValueError, match="subset"):
        DwUnet(8, output_scales=(3,))


def test_train_returns_weighted_losses_and_eval_all_scales():
    torch.manual_seed(0)
    model = build_from_registry(seg_cfg())
    x = torch.randn(2, 3, 128, 256)
    gt = torch.randint(0, 19, (2, 1, 128, 256), dtype=torch.uint8)
    gt[:, :, :8] = 255
    out = model({"img": x, "gt_seg": gt})
    assert list(out["losses"]) == [f"Focal_{i}" for i in range(5)]
    assert [tuple(p.shape) for p in out["preds"]] == [(2, 19, 128 // s, 256 // s) for s in SCALES]
    sum(out["losses"].values()).backward()
    assert model.backbone.stem.conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        preds = model({"img": x})
    assert isinstance(preds, list) and len(preds) == 5 and preds[0].shape == (2, 19, 32, 64)


def test_a_few_steps_fit_one_batch():
    torch.manual_seed(0)
    model = build_from_registry(seg_cfg(num_classes=3))
    gt = torch.zeros(2, 64, 128, dtype=torch.long)
    gt[:, :, 64:] = 1
    gt[:, 40:] = 2
    colours = torch.tensor([[0.5, -0.5, 0.0], [-0.5, 0.5, 0.3], [0.0, 0.2, -0.6]])
    x = colours[gt].permute(0, 3, 1, 2) + 0.2 * torch.randn(2, 3, 64, 128)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(40):
        out = model({"img": x, "gt_seg": gt})
        loss = sum(out["losses"].values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0], losses[::10]
    # batch statistics (a 64x128 batch of 2 is too small for meaningful running statistics)
    pred = out["preds"][0].argmax(1)
    assert (pred == gt[:, 2::4, 2::4]).float().mean() > 0.85


def test_deploy_model_loads_training_weights_and_argmaxes():
    torch.manual_seed(0)
    train = build_from_registry(seg_cfg()).eval()
    deploy = build_from_registry(seg_cfg(deploy=True)).eval()
    result = deploy.load_state_dict(train.state_dict(), strict=False)
    assert not result.missing_keys and result.unexpected_keys  # coarser outputs dropped
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        logits = train({"img": x})[0]
        ids = deploy({"img": x})
    assert ids.shape == (1, 1, 16, 32) and ids.dtype == torch.int64
    assert torch.equal(ids, logits.argmax(1, keepdim=True))


def test_quantized_deploy_model_matches_its_fake_quant_model():
    torch.manual_seed(0)
    model = build_from_registry(seg_cfg(deploy=True)).eval()
    model.fuse_model()
    model.set_qconfig()
    prepare_qat(model, inplace=True, state=FakeQuantState.CALIBRATION)
    x = torch.randn(2, 3, 64, 128).clamp(-1, 1)
    with torch.no_grad():
        model({"img": x})
        set_fake_quantize(model, FakeQuantState.VALIDATION)
        fq = model({"img": x})
        int_model = convert(copy.deepcopy(model))
        ids = int_model({"img": x})
    assert ids.dtype == torch.int64 and torch.equal(ids, fq)
    adds = [m for n, m in int_model.named_modules() if n.endswith(".add")]
    assert len(adds) == 4 and all(int(m.out_zero_point) == 0 for m in adds)  # fused ReLU
