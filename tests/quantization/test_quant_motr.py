"""MOTR's deployed base model quantized end to end: every transformer op on integer data or a
named float island, the integer model bit-identical on ONNX Runtime, the track-slot mask
exact in integer form."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import hat.models  # noqa: F401  (registers the model parts)
from hat.quantization import FakeQuantState, convert, prepare_qat, set_fake_quantize
from hat.quantization.checker import check_model
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import run_onnx
from hat.registry import build_from_registry

D, DETECT, SLOTS = 64, 10, 4
OUTPUTS = ("pred_logits", "pred_boxes", "hs")


def tiny_motr() -> torch.nn.Module:
    cfg = dict(
        type="Motr",
        backbone=dict(
            type="efficientnet", model_type="b0", include_top=False, activation="relu",
            use_se_block=False, num_classes=1000,
        ),
        head=dict(
            type="MotrHead",
            transformer=dict(
                type="MotrDeformableTransformer", d_model=D, nhead=4, num_encoder_layers=1,
                num_decoder_layers=2, dim_feedforward=128,
            ),
            num_classes=1, in_channels=320, num_queries=DETECT,
        ),
        post_process=dict(type="MotrPostProcess", score_threshold=0.0, area_threshold=0.0),
        track_embed=dict(type="QueryInteractionModule", dim_in=D, hidden_dim=128, dim_out=D),
        runtime_tracker=dict(type="RuntimeTracker"),
        max_track_slots=SLOTS,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_from_registry(cfg, "model").eval()
    with torch.no_grad():  # move the zero-initialised box deltas and offsets off their init
        for name, p in model.head.named_parameters():
            if "bbox_embed" in name or "sampling_offsets.weight" in name:
                p.add_(torch.randn_like(p) * 0.05)
    return model


def deploy_inputs(model, seed: int, live: int = 2) -> dict[str, torch.Tensor]:
    """The deployed inputs of one frame: the learned detect queries, then ``live`` valid track
    slots with random queries and the remaining slots invalid."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        q = model.deploy_queries(model._state_for("s", 1, torch.device("cpu")))
    query_pos, ref_pts, mask = q["query_pos"].clone(), q["ref_pts"].clone(), q["query_mask"]
    query_pos[:, DETECT : DETECT + live] = torch.randn(1, live, 2 * D, generator=g)
    ref_pts[:, DETECT : DETECT + live] = torch.randn(1, live, 2, generator=g)
    mask = mask.clone()
    mask[:, DETECT : DETECT + live] = True
    return dict(
        img=torch.randn(1, 3, 64, 96, generator=g),
        query_pos=query_pos,
        mask_query=mask.float(),
        ref_pts=ref_pts,
    )


@pytest.fixture(scope="module")
def quantized():
    model = tiny_motr()
    with torch.no_grad():
        float_out = model(deploy_inputs(model, 50))
    qat = tiny_motr()
    qat.fuse_model()
    qat.set_qconfig()
    prepare_qat(qat, inplace=True)
    set_fake_quantize(qat, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for seed in range(6):
            qat(deploy_inputs(qat, seed, live=seed % 3))
            # the query interaction module (the second graph) runs between frames
            x = qim_inputs(seed, live=seed % SLOTS)
            qat.track_embed.track_query_pos(x["query_pos"], x["output_embedding"], x["mask_query"])
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    return model, float_out, qat, convert(qat)


def test_the_transformer_runs_on_integer_modules(quantized):
    _, _, _, int_model = quantized
    kinds = {type(m).__name__ for m in int_model.head.modules()}
    for needed in ("IntLinear", "IntMatMul", "IntMaskedSoftmax", "IntLayerNorm", "IntGroupNorm",
                   "IntIpmSample", "IntSigmoid", "IntAdd", "IntMulScalar"):  # fmt: skip
        assert needed in kinds, needed
    sig = int_model.head.transformer.decoder.ref_sigmoid[0]
    assert sig.in_qdtype.name == "int16" and sig.table.numel() == 65536


def test_int_model_follows_the_float_model(quantized):
    model, float_out, _, int_model = quantized
    x = deploy_inputs(model, 50)
    with torch.no_grad():
        out = int_model(x)
    valid = x["mask_query"][0] > 0.5
    boxes_err = (out["pred_boxes"][0][valid] - float_out["pred_boxes"][0][valid]).abs()
    # of the unit image (random weights: the untrained backbone's 1-LSB differences grow)
    assert float(boxes_err.mean()) < 0.01 and float(boxes_err.max()) < 0.1
    # the sign of the class logit (score above / below 0.5) mostly agrees
    agree = (out["pred_logits"][0][valid] > 0) == (float_out["pred_logits"][0][valid] > 0)
    assert float(agree.float().mean()) >= 0.9


def test_invalid_slots_do_not_reach_valid_ones_in_integer_form(quantized):
    model, _, _, int_model = quantized
    x = deploy_inputs(model, 11, live=1)
    y = {k: v.clone() for k, v in x.items()}
    g = torch.Generator().manual_seed(3)
    y["query_pos"][:, DETECT + 1 :] = torch.randn(1, SLOTS - 1, 2 * D, generator=g) * 5
    y["ref_pts"][:, DETECT + 1 :] = torch.randn(1, SLOTS - 1, 2, generator=g) * 3
    with torch.no_grad():
        a, b = int_model(x), int_model(y)
    valid = x["mask_query"][0] > 0.5
    for key in OUTPUTS:
        assert torch.equal(a[key][0][valid], b[key][0][valid]), key
    # the live track does reach the detect queries
    z = {k: v.clone() for k, v in x.items()}
    z["mask_query"][:, DETECT] = 0.0
    with torch.no_grad():
        c = int_model(z)
    assert not torch.equal(a["hs"][0, :DETECT], c["hs"][0, :DETECT])


def test_onnx_runtime_is_bit_identical_over_frames(quantized, tmp_path):
    model, _, _, int_model = quantized
    path = str(tmp_path / "motr.onnx")
    report = export_int_model_to_onnx(int_model, deploy_inputs(model, 0), path)
    assert report.inputs == ["img", "query_pos", "mask_query", "ref_pts"]
    assert report.outputs == list(OUTPUTS)
    for seed, live in ((20, 0), (21, 2), (22, SLOTS)):
        x = deploy_inputs(model, seed, live)
        ort = run_onnx(path, x)
        with torch.no_grad():
            ref = int_model(x)
        for key in OUTPUTS:
            assert np.array_equal(ort[key], ref[key].numpy()), (seed, key)


def test_model_checker_names_every_float_op():
    model = tiny_motr()
    report = check_model(model, deploy_inputs(model, 0))
    assert report.problems == []
    # the query interaction module is the second graph, not called by the base graph's inputs
    assert any(w.startswith("track_embed (QueryInteractionModule) is not called") for w in
               report.warnings), report.warnings  # fmt: skip
    assert report.summary.integer_mac_share >= 0.95
    islands = {row.module_type for row in report.rows if row.kind == "float island"}
    # LayerNorm, GroupNorm, masked softmax: exact int32 sums then float32 element-wise ops;
    # int16 Add/Concat of the box chain: QDQ emulation; the deformable attention's own ops:
    # the sampling points (the sampling itself is integer)
    assert islands <= {"IntLayerNorm", "IntGroupNorm", "IntMaskedSoftmax", "IntAdd",
                       "IntConcat", "MultiScaleDeformableAttention"}, islands  # fmt: skip
    assert all(reason for reason in report.summary.float_islands.values())


def qim_inputs(seed: int, live: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(1, SLOTS)
    mask[:, :live] = 1.0
    return dict(
        query_pos=torch.randn(1, SLOTS, 2 * D, generator=g),
        output_embedding=torch.randn(1, SLOTS, D, generator=g),
        mask_query=mask,
    )


@pytest.fixture(scope="module")
def quantized_qim():
    torch.manual_seed(1)
    qim = build_from_registry(
        dict(type="MotrQim", track_embed=dict(type="QueryInteractionModule", dim_in=D,
                                              hidden_dim=128, dim_out=D)),
        "model",
    ).eval()  # fmt: skip
    with torch.no_grad():
        float_out = qim(qim_inputs(50))
    qat = copy.deepcopy(qim)
    qat.fuse_model()
    qat.set_qconfig()
    prepare_qat(qat, inplace=True)
    set_fake_quantize(qat, FakeQuantState.CALIBRATION)
    with torch.no_grad():
        for seed in range(8):
            qat(qim_inputs(seed, live=1 + seed % SLOTS))
    set_fake_quantize(qat, FakeQuantState.VALIDATION)
    return qim, float_out, convert(qat)


def test_qim_graph_is_integer_and_bit_identical_on_onnx_runtime(quantized_qim, tmp_path):
    qim, float_out, int_qim = quantized_qim
    x = qim_inputs(50)
    with torch.no_grad():
        out = int_qim(x)["track_query_pos"]
    valid = x["mask_query"][0] > 0.5
    err = (out[0][valid] - float_out["track_query_pos"][0][valid]).abs()
    assert float(err.mean()) < 0.1  # LayerNorm outputs of unit spread
    path = str(tmp_path / "qim.onnx")
    report = export_int_model_to_onnx(int_qim, qim_inputs(0), path)
    assert report.inputs == ["query_pos", "output_embedding", "mask_query"]
    for seed, live in ((30, 0), (31, 1), (32, SLOTS)):
        x = qim_inputs(seed, live)
        with torch.no_grad():
            ref = int_qim(x)["track_query_pos"].numpy()
        assert np.array_equal(run_onnx(path, x)["track_query_pos"], ref), (seed, live)
    # padded slots never reach the valid ones, in integer form too
    x, y = qim_inputs(33, live=2), qim_inputs(33, live=2)
    y["query_pos"][:, 2:] *= 7
    y["output_embedding"][:, 2:] = -3.0
    with torch.no_grad():
        a, b = int_qim(x)["track_query_pos"], int_qim(y)["track_query_pos"]
    assert torch.equal(a[:, :2], b[:, :2])
    report = check_model(qim, qim_inputs(0))
    assert report.problems == [] and report.summary.integer_mac_share >= 0.95
