"""The MOTR latency benchmark on the tiny stage config: both deployed graphs exported, their
integer models equal to ORT, and the per-frame sum (the timings themselves are not tested)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_motr_latency  # noqa: E402


def test_both_graphs_measured_and_summed(tmp_path, monkeypatch):
    monkeypatch.setenv("HAT_TEST_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HAT_TEST_CKPT", str(tmp_path / "ckpt"))
    monkeypatch.chdir(ROOT)
    args = bench_motr_latency.argparse.Namespace(float_ckpt=None, rounds=1, seconds=0.2, threads=1)
    tools = ROOT / "tests" / "tools"
    rows = {
        name: bench_motr_latency.measure_graph(str(tools / cfg), args, str(tmp_path))
        for name, cfg in (("base", "tiny_motr_stages_config.py"),
                          ("qim", "tiny_motr_qim_stages_config.py"))
    }  # fmt: skip
    assert rows["base"]["inputs"]["img"] == [1, 3, 63, 112]
    assert rows["qim"]["inputs"] == {"query_pos": [1, 4, 128], "output_embedding": [1, 4, 64],
                                     "mask_query": [1, 4]}  # fmt: skip
    for row in rows.values():
        assert row["int_vs_ort_identical"] == 1.0
        assert not row["ort_int8_graph"]["float_compute"]
        assert all(row["runs"][k] >= 3 for k in bench_motr_latency.bdl.KINDS)
    frame = bench_motr_latency.per_frame(rows["base"], rows["qim"])
    for k in bench_motr_latency.bdl.KINDS:
        want = rows["base"]["median_ms"][k] + rows["qim"]["median_ms"][k]
        assert frame["median_ms"][k] == pytest.approx(want)
    assert frame["int8_over_ort_fp32"] == pytest.approx(
        frame["median_ms"]["ort_int8"] / frame["median_ms"]["ort_fp32"]
    )
