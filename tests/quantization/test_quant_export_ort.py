"""Integer model -> ONNX (QDQ) -> ONNX Runtime: alignment, fusion and graph hygiene."""

import numpy as np
import onnx
import pytest
import torch
from quant_helpers import SmallNet, int_values, lsb_stats, quantize_model, randomize_bn
from test_quant_int_model import OPS, run_op

from hat.quantization import get_default_qconfig
from hat.quantization.export_onnx import export_int_model_to_onnx
from hat.quantization.ort_runner import (
    EXACT_INT_CONV_OP,
    classify_ops,
    make_session,
    optimized_op_counts,
    run_onnx,
)
from hat.quantization.qtensor import plain


def _ort_ints(path, xs, level):
    feeds = {f"x{i}": x for i, x in enumerate(xs)}
    return next(iter(run_onnx(path, feeds, level=level, threads=1).values())).astype(np.int64)


class _Pos(torch.nn.Module):
    """Name the inputs x0, x1, ... for export."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, **kw):
        return self.net(*[kw[f"x{i}"] for i in range(len(kw))])


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_int_model_vs_ort(name, tmp_path):
    _, im, xs, _, y_int = run_op(name)
    path = tmp_path / f"{name}.onnx"
    rep = export_int_model_to_onnx(_Pos(im), {f"x{i}": x for i, x in enumerate(xs)}, path)
    ref = int_values(y_int)
    res = {}
    for level in ("disable", "all"):
        got = _ort_ints(path, xs, level)
        res[level] = lsb_stats(got, ref)
    print(name, res, "islands:", rep.float_islands)
    # every op, the warp float island included, is bit-exact on ORT
    assert res["disable"] == (0, 0.0) and res["all"] == (0, 0.0), res
    assert rep.float_islands == (["net.op"] if name == "warp" else [])


@pytest.mark.parametrize("preset", ["horizon_s8", "int16"])
def test_symmetric_presets_run_on_ort(preset, tmp_path):
    _, im, xs, _, y_int = run_op("conv_bn_relu", preset=preset)
    path = tmp_path / "m.onnx"
    export_int_model_to_onnx(_Pos(im), {"x0": xs[0]}, path)
    for level in ("disable", "all"):
        mx, frac = lsb_stats(_ort_ints(path, xs, level), int_values(y_int))
        # ORT runs these as DQ -> float conv -> Q: float32 summation order can flip a rounding
        assert mx <= 1 and frac <= 1e-2, (preset, level, mx, frac)


@pytest.fixture(scope="module")
def small_net(tmp_path_factory):
    torch.manual_seed(0)
    net = randomize_bn(SmallNet(8))
    n_conv = net.num_convs
    g = torch.Generator().manual_seed(5)
    calib = [(torch.randn(2, 3, 32, 48, generator=g),) for _ in range(3)]
    qat, im = quantize_model(net, calib)
    x = torch.randn(2, 3, 32, 48, generator=g)
    path = tmp_path_factory.mktemp("onnx") / "small.onnx"
    rep = export_int_model_to_onnx(im, {"x": x}, path)
    return qat, im, x, path, rep, n_conv


def test_small_net_alignment(small_net):
    qat, im, x, path, rep, _ = small_net
    y_int = im(x)
    scale = float(im.head.out_scale)
    with torch.no_grad():
        y_fq = qat(x)
    fq_lsb = torch.round((y_fq - y_int).abs() / scale).max().item()
    assert fq_lsb <= 1
    for level in ("disable", "extended", "all"):
        y = run_onnx(path, {"x": x}, level=level, threads=2)["output"]
        d = np.round(np.abs(y - y_int.numpy()) / scale)
        print(level, "max LSB", d.max(), "identical", (d == 0).mean())
        assert d.max() <= 1 and (d == 0).mean() >= 0.999, (level, d.max(), (d == 0).mean())


def test_small_net_fuses_every_conv(small_net):
    _, _, _, path, rep, n_conv = small_net
    counts = optimized_op_counts(path, level="extended")
    groups = classify_ops(counts)
    print(groups)
    assert counts["QLinearConv"] == n_conv
    assert counts["QLinearAdd"] == 1 and counts["QLinearConcat"] == 1
    assert not groups["float_compute"], groups


def test_graph_hygiene(small_net):
    _, _, _, path, _, _ = small_net
    m = onnx.load(path)
    assert m.ir_version == 10
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear":
            assert inits[n.input[1]].shape == () and inits[n.input[2]].shape == ()
            assert inits[n.input[2]].dtype == np.uint8
        if n.op_type == "Conv":
            w_dq = next(d for d in m.graph.node if d.output[0] == n.input[1])
            assert inits[w_dq.input[0]].dtype == np.int8
            assert int(min(inits[w_dq.input[0]].min(), 0)) >= -128
            b_dq = next(d for d in m.graph.node if d.output[0] == n.input[2])
            assert inits[b_dq.input[0]].dtype == np.int32
    # nothing left for ORT's WeightBiasQuantization pass: same result with it disabled
    x = torch.randn(2, 3, 32, 48)
    a = run_onnx(path, {"x": x}, level="all")["output"]
    s = make_session(path, "all", disabled_optimizers=["WeightBiasQuantization"])
    b = run_onnx(path, {"x": x}, session=s)["output"]
    assert np.array_equal(a, b)


def test_high_precision_head_exports_exact_integer_conv(tmp_path):
    """A small high-precision head: its int32 accumulator is exact in float32 (see
    ``test_exact_int_conv_export`` for the bound and the ConvInteger side)."""
    net = randomize_bn(SmallNet(8, high_precision_head=True))
    net.set_qconfig = lambda: None
    from hat.quantization import default_set_qconfig

    default_set_qconfig(net)
    g = torch.Generator().manual_seed(1)
    calib = [(torch.randn(1, 3, 16, 24, generator=g),)]
    qat, im = quantize_model(net, calib, qconfig=net.qconfig)
    x = calib[0][0]
    path = tmp_path / "hp.onnx"
    export_int_model_to_onnx(im, {"x": x}, path)
    counts = optimized_op_counts(path)
    assert counts[EXACT_INT_CONV_OP] == 1 and "ConvInteger" not in counts, dict(counts)
    y_int = im(x)
    for level in ("disable", "all"):
        y = run_onnx(path, {"x": x}, level=level)["output"]
        assert np.array_equal(y, y_int.numpy()), level


def test_int_output_dtype(small_net):
    _, im, x, _, _, _ = small_net
    assert plain(im.c1(im.quant(x))).dtype == torch.uint8
    qc = get_default_qconfig()
    assert qc.activation.dtype == "uint8"
