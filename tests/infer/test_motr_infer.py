"""The tracking inference adapter's inputs: a folder of frames, its name, the frame limit, and
clear errors for a bad folder or value; the missing-graph error of the two-graph tools."""

import numpy as np
import pytest

from hat.infer import InferInputError, MotrInfer, parse_model_inputs
from hat.tools.export_hbir import deployed_graph_paths, extra_graph_path
from hat.utils.cli import ToolError


def _frames(folder, n):
    import cv2

    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        cv2.imwrite(str(folder / f"{i:06d}.jpg"), np.full((8, 12, 3), 10 * i, np.uint8))


def test_a_sequence_folder_is_read_in_order_with_its_name(tmp_path):
    img1 = tmp_path / "MOT17-02-FRCNN" / "img1"
    _frames(img1, 5)
    (img1 / "notes.txt").write_text("not a frame")
    task = MotrInfer()
    raw = task.load_inputs(parse_model_inputs(f"frames:{img1},max_frames:3", task))
    assert raw["name"] == "MOT17-02-FRCNN"  # the parent of a MOT img1 folder
    assert [p.rsplit("/", 1)[1] for p in raw["paths"]] == ["000001.jpg", "000002.jpg", "000003.jpg"]
    batches = list(task.frame_batches(raw))
    assert len(batches) == 3 and [int(b["frames"][0]["frame_id"][0]) for b in batches] == [1, 2, 3]


def test_bad_frame_inputs_are_named(tmp_path):
    task = MotrInfer()
    with pytest.raises(InferInputError, match="not a folder"):
        task.load_inputs({"frames": str(tmp_path / "missing")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InferInputError, match="no .jpg/.png images"):
        task.load_inputs({"frames": str(tmp_path / "empty")})
    _frames(tmp_path / "seq", 2)
    with pytest.raises(InferInputError, match="max_frames: expected an integer"):
        task.load_inputs({"frames": str(tmp_path / "seq"), "max_frames": "two"})
    with pytest.raises(InferInputError, match="max_frames must be >= 1"):
        task.load_inputs({"frames": str(tmp_path / "seq"), "max_frames": "0"})


def test_a_missing_extra_graph_file_is_named(tmp_path):
    class TwoGraphs:
        def extra_deploy_graphs(self):
            return {"qim": None}

    base = tmp_path / "task.int.onnx"
    base.write_bytes(b"")
    with pytest.raises(ToolError, match=r"no exported qim graph at .*task\.qim\.int\.onnx"):
        deployed_graph_paths(TwoGraphs(), str(base))
    (tmp_path / "task.qim.int.onnx").write_bytes(b"")
    assert deployed_graph_paths(TwoGraphs(), str(base)) == {
        "base": str(base),
        "qim": extra_graph_path(str(base), "qim"),
    }
