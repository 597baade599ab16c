"""CenterPoint3dHead shapes and quantization; BevDetDecoder losses and post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from centerpoint_cases import COMMON_HEADS, TASKS, seed_target
from torch import nn

import hat.nn as hnn
from hat.data.readers.nuscenes_constants import DETECTION_CLASSES
from hat.models.task_modules.centerpoint import BevDetDecoder, CenterPoint3dHead
from hat.quantization import (
    FakeQuantState,
    convert,
    default_set_qconfig,
    prepare_qat,
    set_fake_quantize,
)
from hat.registry import build_from_registry

SMALL_BEV = (12.8, 12.8, 0.8)  # a 32 x 32 grid keeps the tests fast


def _head_cfg(in_channels: int = 48, channels: int = 48) -> dict:
    """The seed's head (channels reduced where asked)."""
    return dict(
        type="CenterPoint3dHead",
        in_channels=in_channels,
        tasks=TASKS,
        share_conv_channels=channels,
        share_conv_num=1,
        common_heads=COMMON_HEADS,
        head_conv_channels=channels,
        num_heatmap_convs=2,
        final_kernel=3,
    )


def _det_cfg(bev_size=SMALL_BEV, channels: int = 16) -> dict:
    """The seed's ``BevDetDecoder`` dict."""
    return dict(
        type="BevDetDecoder",
        name="bev_det",
        task_weight=1.0,
        head=_head_cfg(channels, channels),
        target=seed_target(bev_size),
        loss_cls=dict(type="GaussianFocalLoss", loss_weight=1.0),
        loss_reg=dict(type="L1Loss", loss_weight=0.25),
        decoder=dict(
            type="CenterPoint3dDecoder",
            class_names=DETECTION_CLASSES,
            tasks=TASKS,
            bev_size=bev_size,
            out_size_factor=1,
            use_max_pool=True,
            max_pool_kernel=3,
            score_threshold=0.1,
            nms_type=["rotate", "rotate", "rotate", "circle", "rotate", "rotate"],
            min_radius=[4, 12, 10, 1, 0.85, 0.175],
            nms_threshold=[0.2, 0.2, 0.2, 0.2, 0.2, 0.5],
            decode_to_ego=True,
        ),
    )


def _gt():
    cls = {c: i for i, c in enumerate(DETECTION_CLASSES)}
    rows = [
        ("car", [3.3, -5.1, -0.8, 1.9, 4.6, 1.7, 0.3, 4.0, -1.0]),
        ("truck", [-6.2, 4.4, 0.2, 2.5, 7.0, 3.0, 1.57, -2.0, 6.5]),
        ("trailer", [8.1, 8.3, 0.4, 2.6, 12.0, 3.8, 0.05, 0.5, 0.1]),
        ("barrier", [-9.5, -9.5, -0.6, 2.4, 0.5, 1.0, 2.2, 0.0, 0.0]),
        ("bicycle", [0.5, 10.1, -0.3, 0.6, 1.7, 1.3, 2.5, -1.0, 1.5]),
        ("pedestrian", [-2.2, -1.9, -0.2, 0.7, 0.7, 1.8, 1.0, 1.2, 0.4]),
    ]
    boxes = torch.tensor([r[1] for r in rows])
    labels = torch.tensor([cls[r[0]] for r in rows])
    return boxes, labels


def test_head_output_shapes_for_the_seed_tasks():
    head = build_from_registry(_head_cfg())
    assert isinstance(head, CenterPoint3dHead)
    out = head([torch.randn(2, 48, 32, 32), torch.randn(2, 48, 16, 16)])
    assert len(out) == 6
    expect = {"reg": 2, "height": 1, "dim": 3, "rot": 2, "vel": 2}
    for task, o in zip(TASKS, out):
        assert {k: tuple(v.shape) for k, v in o.items()} == {
            "heatmap": (2, task["num_class"], 32, 32),
            **{k: (2, c, 32, 32) for k, c in expect.items()},
        }
    # heatmap logits start near logit(0.1) = -2.19 (CenterNet's prior)
    for sep in head.task_heads:
        bias = sep.final["heatmap"].conv.bias.detach()
        assert torch.allclose(bias, torch.full_like(bias, -2.19))
        assert len(sep.branches["heatmap"]) == 1 and sep.final["reg"].conv.kernel_size == (3, 3)
    with pytest.raises(ValueError, match=r"feats\[0\] of shape \(B, 48, H, W\)"):
        head([torch.randn(1, 32, 8, 8)])


class _QuantHeadNet(nn.Module):
    """QuantStub -> head, as the head sits behind the quantized BEV encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = hnn.QuantStub()
        self.head = build_from_registry(_head_cfg())

    def forward(self, x):
        return self.head([self.quant(x)])

    def fuse_model(self) -> None:
        self.head.fuse_model()

    def set_qconfig(self) -> None:
        default_set_qconfig(self)
        self.head.set_qconfig(self.qconfig)


def _randomize_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def test_head_float_calibration_int_round_trip(tmp_path):
    torch.manual_seed(0)
    net = _QuantHeadNet().eval()
    _randomize_bn(net)
    g = torch.Generator().manual_seed(1)
    calib = [torch.relu(torch.randn(2, 48, 32, 32, generator=g)) for _ in range(3)]
    x = torch.relu(torch.randn(2, 48, 32, 32, generator=g))
    with torch.no_grad():
        ref = net(x)
    net.fuse_model()
    net.set_qconfig()
    prepare_qat(net, inplace=True)
    net.eval()
    set_fake_quantize(net, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for c in calib:
            net(c)
    set_fake_quantize(net, FakeQuantState.VALIDATION)
    int_model = convert(net)
    with torch.no_grad():
        fq, out = net(x), int_model(x)
    convs = {n: m for n, m in int_model.named_modules() if type(m).__name__ == "IntConv2d"}
    assert len(convs) == 1 + 6 * 6 * 2  # every conv is an integer conv
    high = sorted(n for n, m in convs.items() if m.high_precision)
    assert len(high) == 36 and all(".final." in n for n in high)
    for r, q, o in zip(ref, fq, out):
        assert set(o) == set(r)
        for k in r:
            assert type(o[k]) is torch.Tensor and o[k].dtype == torch.float32
            err = o[k] - r[k]
            # uint8 features, int32 high-precision outputs (measured: SQNR 32.2 to 36 dB over
            # the 36 outputs, largest error 0.23 of the output's std)
            sqnr = 10 * torch.log10((r[k] - r[k].mean()).pow(2).mean() / err.pow(2).mean())
            assert sqnr > 29.0, (k, sqnr)
            assert err.abs().max() < 0.35 * r[k].std(), k
            # the integer model computes what the calibrated fake-quant model computes
            assert (o[k] - q[k]).abs().max() < 0.01 * r[k].std(), k

    # ONNX: the integer model's outputs bit for bit on ORT, every conv an integer kernel
    from hat.quantization.export_onnx import export_int_model_to_onnx
    from hat.quantization.ort_runner import EXACT_INT_CONV_OP, optimized_op_counts, run_onnx

    path = tmp_path / "head.onnx"
    report = export_int_model_to_onnx(int_model, {"x": x}, path)
    assert report.float_islands == []
    assert report.outputs[:2] == ["output_0.heatmap", "output_0.reg"] and len(report.outputs) == 36
    ort = run_onnx(path, {"x": x}, level="all")
    flat = [v for o in out for v in o.values()]
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(ort.values(), flat))
    ops = optimized_op_counts(path, level="all")
    # the 36 high-precision outputs: int32 accumulators exact in float32 (see IntConv2d)
    assert ops["QLinearConv"] == 37 and ops[EXACT_INT_CONV_OP] == 36 and "Conv" not in ops


def test_bev_det_decoder_losses_and_post_process():
    torch.manual_seed(0)
    det = build_from_registry(_det_cfg())
    assert isinstance(det, BevDetDecoder)
    boxes, labels = _gt()
    data = {"gt_boxes": [boxes, boxes[:3]], "gt_labels": [labels, labels[:3]]}
    out = det([torch.randn(2, 16, 32, 32)])
    losses = det.loss(out, data)
    assert sorted(losses) == sorted(
        f"bev_det_task{t}_{kind}_loss" for t in range(6) for kind in ("heatmap", "bbox")
    )
    total = sum(losses.values())
    total.backward()
    grads = [p.grad for p in det.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())

    # perfect outputs: zero box loss, heatmap loss far below the untrained head's
    heatmaps, anno, inds, masks = det.target(data["gt_boxes"], data["gt_labels"], (32, 32))
    perfect = []
    for t, hm in enumerate(heatmaps):
        maps = torch.zeros(2, 10, 32 * 32)
        for i in range(2):
            m = masks[i, t].bool()
            maps[i][:, inds[i, t][m]] = anno[i, t][m].T
        maps = maps.reshape(2, 10, 32, 32)
        perfect.append(
            dict(
                heatmap=torch.logit(hm.clamp(1e-4, 1 - 1e-4)),
                reg=maps[:, 0:2],
                height=maps[:, 2:3],
                dim=maps[:, 3:6],
                rot=maps[:, 6:8],
                vel=maps[:, 8:10],
            )
        )
    good = det.loss(perfect, data)
    for t in range(6):
        assert good[f"bev_det_task{t}_bbox_loss"].item() == pytest.approx(0.0, abs=1e-6)
        assert good[f"bev_det_task{t}_heatmap_loss"] < 0.1 * losses[f"bev_det_task{t}_heatmap_loss"]
    # every code off by 0.5: 0.5 * sum(bbox_weight) = 4.2 per box, times loss_weight 0.25,
    # over (number of boxes + 1e-4)
    shifted = [{k: (v + 0.5 if k != "heatmap" else v) for k, v in o.items()} for o in perfect]
    off = det.loss(shifted, data)
    for t in range(6):
        n = masks[:, t].sum().item()
        expect = 0.25 * 4.2 * n / (n + 1e-4)
        assert off[f"bev_det_task{t}_bbox_loss"].item() == pytest.approx(expect, rel=1e-6)

    preds = det.post_process(perfect)
    assert [len(p["scores"]) for p in preds] == [6, 3]
    order = torch.argsort(preds[0]["bboxes"][:, 0])
    assert torch.equal(preds[0]["labels"][order], labels[torch.argsort(boxes[:, 0])])
    assert torch.allclose(
        preds[0]["bboxes"][order, :6], boxes[torch.argsort(boxes[:, 0]), :6], atol=1e-4
    )
    with pytest.raises(KeyError, match="loss needs data\\['gt_labels'\\]"):
        det.loss(out, {"gt_boxes": data["gt_boxes"]})


def test_bev_det_decoder_task_weight_scales_the_losses():
    boxes, labels = _gt()
    data = {"gt_boxes": [boxes], "gt_labels": [labels]}
    torch.manual_seed(0)
    det = build_from_registry(_det_cfg())
    torch.manual_seed(0)
    det2 = build_from_registry(dict(_det_cfg(), task_weight=2.5))
    x = torch.randn(1, 16, 32, 32)
    a, b = det.loss(det(x), data), det2.loss(det2(x), data)
    for k in a:
        assert b[k].item() == pytest.approx(2.5 * a[k].item(), rel=1e-5)
