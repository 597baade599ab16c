"""The checker's report: integer cost volume and soft-argmin, a float island in rows and
summary (an align-corners bilinear resize), an integer x2 bilinear upsampling, and a MAC share
computed from the rows."""

import torch
from torch import nn

from hat.nn import ConvModule2d, CostVolume, DeQuantStub, Interpolate, QuantStub, SoftArgmin
from hat.quantization.checker import check_model


class StereoHead(nn.Module):
    """Two 8-channel feature maps -> group-wise cost volume -> score conv -> soft-argmin."""

    def __init__(self, bilinear: bool = False, align_corners: bool = True) -> None:
        super().__init__()
        self.quant_l, self.quant_r = QuantStub(), QuantStub()
        self.feat_l = ConvModule2d(3, 8, 3, padding=1, act_layer=nn.ReLU())
        self.feat_r = ConvModule2d(3, 8, 3, padding=1, act_layer=nn.ReLU())
        self.cost_volume = CostVolume(max_disp=6, groups=2)
        self.score = ConvModule2d(12, 6, 3, padding=1)
        self.soft_argmin = SoftArgmin(6)
        self.up = (
            Interpolate(scale_factor=2, mode="bilinear", align_corners=align_corners)
            if bilinear
            else None
        )
        self.dequant = DeQuantStub()

    def forward(self, data):
        left = self.feat_l(self.quant_l(data["left"]))
        right = self.feat_r(self.quant_r(data["right"]))
        disp = self.soft_argmin(self.score(self.cost_volume(left, right)))
        if self.up is not None:
            disp = self.up(disp)
        return self.dequant(disp)


def _inputs():
    g = torch.Generator().manual_seed(0)
    return dict(
        left=torch.rand(1, 3, 8, 16, generator=g), right=torch.rand(1, 3, 8, 16, generator=g)
    )


def _consistent(report):
    s = report.summary
    total = sum(r.macs for r in report.rows)
    integer = sum(r.macs for r in report.rows if r.kind != "float island")
    assert s.total_macs == total and s.integer_macs == integer
    assert s.integer_mac_share == (integer / total)
    assert s.float_islands == {r.name: r.note for r in report.rows if r.kind == "float island"}


def test_cost_volume_and_soft_argmin_are_integer():
    report = check_model(StereoHead().eval(), _inputs())
    assert report.ok, report.render_text()
    rows = {r.name: r for r in report.rows}
    cv, sa = rows["cost_volume"], rows["soft_argmin"]
    assert (cv.module_type, cv.kind) == ("IntCostVolume", "integer")
    assert (sa.module_type, sa.kind) == ("IntSoftArgmin", "integer")
    # B * C * H * sum_{d<6} (W - d) and one MAC per candidate
    assert cv.macs == 1 * 8 * 8 * sum(16 - d for d in range(6))
    assert sa.macs == 1 * 6 * 8 * 16
    assert rows["feat_l"].macs == 8 * 16 * 8 * 3 * 9 and rows["feat_l"].note == "QLinearConv"
    assert report.summary.float_islands == {} and report.summary.integer_mac_share == 1.0
    _consistent(report)
    assert "float islands: none" in report.render_text()


def test_bilinear_resize_is_a_float_island_in_rows_and_summary():
    report = check_model(StereoHead(bilinear=True).eval(), _inputs(), min_integer_share=0.5)
    assert report.ok, report.render_text()
    up = next(r for r in report.rows if r.name == "up")
    assert up.kind == "float island" and "no integer linear Resize" in up.note
    assert up.macs == 4 * 1 * 1 * 16 * 32  # 4 MACs per output element
    assert list(report.summary.float_islands) == ["up"]
    _consistent(report)
    assert report.summary.integer_mac_share < 1.0
    text = report.render_text(rows=False)
    assert (
        "float islands: up" in text and f"({100 * report.summary.integer_mac_share:.2f} %)" in text
    )
    d = report.to_dict()
    assert d["ok"] and d["summary"]["float_islands"] == {"up": up.note}


def test_share_below_threshold_and_shared_module_are_problems():
    class Shared(StereoHead):
        def forward(self, data):  # one ConvModule2d for both images: one output scale
            left = self.feat_l(self.quant_l(data["left"]))
            right = self.feat_l(self.quant_r(data["right"]))
            return self.dequant(self.soft_argmin(self.score(self.cost_volume(left, right))))

    report = check_model(Shared().eval(), _inputs())
    assert not report.ok
    assert any("module feat_l (ConvModule2d) is called 2 times" in p for p in report.problems)
    report = check_model(StereoHead(bilinear=True).eval(), _inputs(), min_integer_share=0.9999)
    assert any("integer MAC share" in p for p in report.problems)


class FloatTail(nn.Module):
    """An integer conv, then a Sequential whose ``qconfig = None`` keeps its conv float."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = QuantStub()
        self.feat = ConvModule2d(3, 8, 3, padding=1, act_layer=nn.ReLU())
        self.dequant = DeQuantStub()
        self.tail = nn.Sequential(ConvModule2d(8, 2, 1))
        self.tail.qconfig = None

    def forward(self, data):
        return self.tail(self.dequant(self.feat(self.quant(data["img"]))))


def test_quantizable_modules_inheriting_no_qconfig_are_warned_about():
    report = check_model(FloatTail().eval(), {"img": torch.rand(1, 3, 8, 8)})
    # the Sequential has no QAT mapping; its conv module and conv inherit its qconfig None
    assert report.warnings == [
        "tail.0 (ConvModule2d) has no qconfig: it stays float",
        "tail.0.conv (Conv2d) has no qconfig: it stays float",
    ]


def test_integer_factor_bilinear_upsampling_is_integer():
    report = check_model(
        StereoHead(bilinear=True, align_corners=False).eval(), _inputs(), min_integer_share=0.99
    )
    assert report.ok, report.render_text()
    up = next(r for r in report.rows if r.name == "up")
    assert (up.module_type, up.kind) == ("IntInterpolate", "integer"), up
    assert "x2x2" in up.note and up.macs == 4 * 1 * 1 * 16 * 32
    assert report.summary.float_islands == {} and report.summary.integer_mac_share == 1.0
    _consistent(report)
    assert "float islands: none" in report.render_text()


class UnusedBranch(nn.Module):
    """A conv whose result no output reads (e.g. a feature level no head uses)."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = QuantStub()
        self.feat = ConvModule2d(3, 8, 3, padding=1, act_layer=nn.ReLU())
        self.side = ConvModule2d(8, 8, 3, padding=1)
        self.head = ConvModule2d(8, 2, 1)
        self.dequant = DeQuantStub()

    def forward(self, data):
        x = self.feat(self.quant(data["img"]))
        self.side(x)  # computed, then dropped
        return self.dequant(self.head(x))


def test_unused_computation_is_dropped_from_the_graph_and_named(tmp_path):
    from hat.quantization import (
        FakeQuantState,
        convert,
        default_set_qconfig,
        prepare_qat,
        set_fake_quantize,
    )
    from hat.quantization.export_onnx import export_int_model_to_onnx
    from hat.quantization.ort_runner import optimized_op_counts

    inputs = {"img": torch.rand(1, 3, 8, 8)}
    report = check_model(UnusedBranch().eval(), inputs)
    assert report.ok, report.problems
    assert report.summary.convs == 2 and report.summary.integer_convs == 2
    assert any("dropped from the deployed graph: side" in w for w in report.warnings)
    assert all(r.name != "side" for r in report.rows)
    model = default_set_qconfig(UnusedBranch().eval())
    prepare_qat(model, inplace=True, state=FakeQuantState.CALIBRATION)
    with torch.no_grad():
        model(inputs)
    set_fake_quantize(model, FakeQuantState.VALIDATION)
    path = tmp_path / "m.onnx"
    exported = export_int_model_to_onnx(convert(model), inputs, path)
    assert exported.unused_modules == ["side"]
    assert optimized_op_counts(str(path))["QLinearConv"] == 2
