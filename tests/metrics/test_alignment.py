"""AlignmentMetric on hand-made tensors: identical, one LSB off, LSB scale, DDP over gloo."""

import pytest
import torch
from gloo_ranks import on_two_ranks

from hat.metrics import AlignmentMetric
from hat.registry import build_from_registry


def test_identical_outputs():
    m = AlignmentMetric(["flow"])
    y = torch.linspace(-3, 3, 40).reshape(1, 2, 4, 5)
    m.update([y], [y.clone()], [0.25])
    v = m.get_dict()
    assert v["identical_fraction_bitwise"] == 1.0 and v["identical_fraction"] == 1.0
    assert v["max_diff_lsb"] == 0.0 and v["flow/max_abs_diff"] == 0.0


def test_one_lsb_off_is_counted_in_lsbs():
    lsb = 0.125
    ref = torch.arange(20, dtype=torch.float32).reshape(1, 1, 4, 5) * lsb
    out = ref.clone()
    out[0, 0, 1, 2] += lsb  # one element one LSB up
    out[0, 0, 3, 4] -= lsb  # and one down
    m = AlignmentMetric(["disp"])
    m.update([out], [ref], [lsb])
    v = m.get_dict()
    assert v["identical_fraction_bitwise"] == pytest.approx(18 / 20)
    assert v["identical_fraction"] == pytest.approx(18 / 20)
    assert v["max_diff_lsb"] == pytest.approx(1.0)
    assert v["disp/max_abs_diff"] == pytest.approx(lsb)


def test_lsb_scale_and_tolerance():
    ref = torch.zeros(1, 1, 2, 2)
    out = torch.tensor([[[[0.0, 0.001], [0.5, 0.0]]]])
    m = AlignmentMetric(["a", "b"])
    # output a: LSB 0.5 -> 0.001 is 0.002 LSB (identical at LSB resolution, not bitwise),
    # 0.5 is 1 LSB; output b has no LSB: differences count in output units
    m.update([out, out], [ref, ref], [0.5, None])
    v = m.get_dict()
    assert v["a/identical_fraction_bitwise"] == pytest.approx(2 / 4)
    assert v["a/identical_fraction"] == pytest.approx(3 / 4)
    assert v["a/max_diff_lsb"] == pytest.approx(1.0)
    assert v["b/max_diff_lsb"] == pytest.approx(0.5)
    assert v["b/identical_fraction"] == pytest.approx(3 / 4)  # 0.001 < 0.01 units
    assert v["max_diff_lsb"] == pytest.approx(1.0)
    report = m.output_report()
    assert report["a"]["elements"] == 4 and report["a"]["lsb"] == 0.5 and report["b"]["lsb"] is None


def test_accumulates_over_batches_and_resets():
    m = build_from_registry(dict(type="AlignmentMetric", output_names=["x"]))
    ref = torch.zeros(10)
    m.update([ref], [ref], [1.0])
    m.update([ref + torch.eye(10)[0] * 3], [ref], [1.0])
    v = m.get_dict()
    assert v["identical_fraction_bitwise"] == pytest.approx(19 / 20)
    assert v["max_diff_lsb"] == 3.0
    m.reset()
    m.update([ref], [ref], [1.0])
    assert m.get_dict()["max_diff_lsb"] == 0.0


def test_bad_input_is_named():
    m = AlignmentMetric(["x", "y"])
    with pytest.raises(ValueError, match="expected 2 outputs"):
        m.update([torch.zeros(2)], [torch.zeros(2)])
    with pytest.raises(ValueError, match="output y: shape"):
        m.update([torch.zeros(2), torch.zeros(3)], [torch.zeros(2), torch.zeros(2)])


def _alignment_on_rank(rank: int) -> dict:
    m = AlignmentMetric(["x"])
    ref = torch.zeros(4)
    # rank 0: identical; rank 1: one element 2 LSB off
    y = ref if rank == 0 else torch.tensor([0.0, 0.0, 1.0, 0.0])
    m.update([y], [ref], [0.5])
    values = m.get_dict()
    return {"values": values, "local_max": float(m.max_lsb[0])}


def test_ddp_sums_counts_and_maxes_over_ranks(tmp_path):
    res = on_two_ranks(_alignment_on_rank, tmp_path)
    assert res["values"]["identical_fraction_bitwise"] == pytest.approx(7 / 8)
    assert res["values"]["max_diff_lsb"] == pytest.approx(2.0)  # MAX, not the sum of maxima
    assert res["local_max"] == 0.0  # get() does not change the rank's own state
