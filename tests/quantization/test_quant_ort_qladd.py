"""ORT's fused QLinearAdd (x86-64 AVX2) against ``ort_qlinear_add`` on every pair of codes."""

import platform

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

from hat.quantization.ort_runner import make_session, optimized_op_counts
from hat.quantization.qdtypes import get_qdtype
from hat.quantization.quantized.ort_qladd import ort_qlinear_add

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="MLAS x86-64 kernel"
)


def _qdq_add_model(n, sa, za, sb, zb, sc, zc, dtype):
    t = TensorProto.UINT8 if dtype == "uint8" else TensorProto.INT8
    c = [
        helper.make_tensor("sa", TensorProto.FLOAT, [], [sa]),
        helper.make_tensor("za", t, [], [za]),
        helper.make_tensor("sb", TensorProto.FLOAT, [], [sb]),
        helper.make_tensor("zb", t, [], [zb]),
        helper.make_tensor("sc", TensorProto.FLOAT, [], [sc]),
        helper.make_tensor("zc", t, [], [zc]),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["a", "sa", "za"], ["fa"]),
        helper.make_node("DequantizeLinear", ["b", "sb", "zb"], ["fb"]),
        helper.make_node("Add", ["fa", "fb"], ["s"]),
        helper.make_node("QuantizeLinear", ["s", "sc", "zc"], ["y"]),
    ]
    io = [helper.make_tensor_value_info(k, t, [n]) for k in ("a", "b", "y")]
    g = helper.make_graph(nodes, "qdq_add", io[:2], io[2:], initializer=c)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m.SerializeToString()


def _reference(a, sa, za, b, sb, zb, sc, zc, qd):
    f32 = np.float32
    fa = (a.astype(np.int32) - za).astype(f32) * f32(sa)
    fb = (b.astype(np.int32) - zb).astype(f32) * f32(sb)
    return np.clip(np.rint((fa + fb) / f32(sc)) + zc, qd.qmin, qd.qmax)


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_fused_qlinear_add_is_reproduced_exactly(dtype):
    qd = get_qdtype(dtype)
    codes = np.arange(qd.qmin, qd.qmax + 1)
    aa, bb = np.meshgrid(codes, codes)
    np_t = np.uint8 if dtype == "uint8" else np.int8
    a, b = aa.ravel().astype(np_t), bb.ravel().astype(np_t)
    rng = np.random.default_rng(0)
    ours_bad = ref_bad = 0
    for _ in range(40 if dtype == "uint8" else 10):
        sa, sb, sc = (float(np.float32(rng.uniform(0.005, 0.1))) for _ in range(3))
        za, zb, zc = (int(rng.integers(qd.qmin, qd.qmax + 1)) for _ in range(3))
        model = _qdq_add_model(a.size, sa, za, sb, zb, sc, zc, dtype)
        sess = make_session(model, "all", threads=1)
        got = sess.run(None, {"a": a, "b": b})[0].astype(np.int64)
        ours = ort_qlinear_add(
            torch.from_numpy(a), sa, za, torch.from_numpy(b), sb, zb, sc, zc, qd
        ).numpy()
        ours_bad += int((ours.astype(np.int64) != got).sum())
        ref_bad += int((_reference(a, sa, za, b, sb, zb, sc, zc, qd) != got).sum())
    assert ours_bad == 0
    if dtype == "uint8":
        assert ref_bad > 0  # the reference QDQ formula is not what the fused kernel computes
    assert optimized_op_counts(model).get("QLinearAdd") == 1


def test_relu_floor():
    qd = get_qdtype("uint8")
    a = torch.tensor([0, 10, 200], dtype=torch.uint8)
    b = torch.tensor([0, 0, 0], dtype=torch.uint8)
    out = ort_qlinear_add(a, 0.1, 100, b, 0.1, 0, 0.1, 50, qd, relu=True)
    assert out.tolist() == [50, 50, 150]
