"""bench_ort_profile's reading of ONNX Runtime's profiler (timings themselves are not tested)."""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_ort_profile  # noqa: E402


def test_profile_reports_every_node_by_op_and_time(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1] * 4, name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("ReduceMean", ["r"], ["y"], keepdims=0, name="mean"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w],
    )  # fmt: skip
    path = str(tmp_path / "m.onnx")
    opset = [helper.make_opsetid("", 17)]
    onnx.save(helper.make_model(graph, opset_imports=opset, ir_version=8), path)
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    p = bench_ort_profile.profile(path, {"x": x}, threads=1, runs=3)
    assert p["total_ms"] > 0
    assert abs(sum(p["ops_ms"].values()) - p["total_ms"]) < 1e-9
    assert "ReduceMean" in p["ops_ms"]
    times = [n["ms"] for n in p["nodes"]]
    assert times == sorted(times, reverse=True) and all(t > 0 for t in times)
    assert {n["op"] for n in p["nodes"]} == set(p["ops_ms"])
    shapes = {n["op"]: n["input_shape"] for n in p["nodes"]}
    assert shapes["ReduceMean"] == [[1, 4, 32, 32]]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".json")]  # traces removed
