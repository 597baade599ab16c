import os

import numpy as np
import pytest

from hat.data.errors import CorruptFileError
from hat.data.readers.pfm import read_pfm, write_pfm
from hat.data.readers.sceneflow_layout import SceneFlowLayout, list_file_name, read_list_file


def _write(path, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_list_lines_blank_lines_and_extra_whitespace(tmp_path):
    path = _write(
        tmp_path / "list.txt",
        "a/left/0.png a/right/0.png a/disp/0.pfm\n"
        "\n"
        "  b/left/1.png\t b/right/1.png   b/disp/1.pfm  \r\n"
        "   \n",
    )
    entries = read_list_file(path)
    assert [(e.left, e.right, e.disp) for e in entries] == [
        ("a/left/0.png", "a/right/0.png", "a/disp/0.pfm"),
        ("b/left/1.png", "b/right/1.png", "b/disp/1.pfm"),
    ]
    assert entries[1].source == f"{path}:3"


@pytest.mark.parametrize(
    "bad_line, count", [("x.png y.png", 2), ("x.png y.png z.pfm extra", 4), ("x.png", 1)]
)
def test_bad_column_count_names_file_and_line(tmp_path, bad_line, count):
    path = _write(tmp_path / "list.txt", f"l.png r.png d.pfm\n\n{bad_line}\nl.png r.png d.pfm\n")
    with pytest.raises(CorruptFileError, match=rf"list\.txt:3: bad list line .*got {count}$"):
        read_list_file(path)


def test_empty_and_missing_list(tmp_path):
    with pytest.raises(CorruptFileError, match="empty list file"):
        read_list_file(_write(tmp_path / "empty.txt", "\n  \n"))
    with pytest.raises(FileNotFoundError, match="list file not found: .*nope.txt"):
        read_list_file(tmp_path / "nope.txt")


def test_split_list_files(sceneflow_root):
    layout = SceneFlowLayout(sceneflow_root)
    train, test = layout.entries("train"), layout.entries("test")
    assert len(train) == 6 and len(test) == 2
    assert [e.left.split("/")[0] for e in train] == ["FlyingThings3D"] * 4 + ["Driving", "Monkaa"]
    assert test[0].left == "FlyingThings3D/frames_finalpass/TEST/A/0000/left/0006.png"
    assert test[0].disp == "FlyingThings3D/disparity/TEST/A/0000/left/0006.pfm"
    assert train[4].right == (
        "Driving/frames_finalpass/15mm_focallength/scene_backwards/fast/right/0001.png"
    )
    assert train[5].disp == "Monkaa/disparity/a_rain_of_stones_x2/left/0000.pfm"
    with pytest.raises(ValueError, match="unknown SceneFlow split 'val'"):
        list_file_name("val")


def test_read_sample_and_custom_list(sceneflow_root, tmp_path):
    layout = SceneFlowLayout(sceneflow_root)
    entry = layout.entries("test")[1]
    left, right, disp = layout.read_sample(entry)
    assert left.shape == right.shape == (64, 128, 3) and disp.shape == (64, 128)
    assert left.dtype == np.uint8 and disp.dtype == np.float32
    bgr, _, _ = layout.read_sample(entry, to_rgb=False)
    np.testing.assert_array_equal(bgr, left[..., ::-1])
    custom = _write(tmp_path / "mine.txt", f"{entry.left} {entry.right} {entry.disp}\n")
    mine = layout.entries(data_list=custom)
    assert [(e.left, e.right, e.disp) for e in mine] == [(entry.left, entry.right, entry.disp)]
    assert mine[0].source == f"{custom}:1"
    # a list named relative to the root is found there
    assert len(layout.entries(data_list=list_file_name("train"))) == 6


def test_missing_files_name_file_and_list_line(sceneflow_copy):
    layout = SceneFlowLayout(sceneflow_copy)
    entry = layout.entries("train")[2]
    os.remove(os.path.join(sceneflow_copy, entry.right))
    with pytest.raises(FileNotFoundError, match=rf"{entry.right}.*train\.txt:3\)"):
        layout.read_sample(entry)
    entry = layout.entries("train")[3]
    os.remove(os.path.join(sceneflow_copy, entry.disp))
    with pytest.raises(FileNotFoundError, match=rf"PFM file not found: .*{entry.disp}"):
        layout.read_sample(entry)


def test_size_mismatch_and_colour_disparity(sceneflow_copy):
    layout = SceneFlowLayout(sceneflow_copy)
    entry = layout.entries("test")[0]
    disp_path = os.path.join(sceneflow_copy, entry.disp)
    write_pfm(disp_path, read_pfm(disp_path)[:, :100])
    with pytest.raises(CorruptFileError, match=r"sizes differ .*\(64, 128, 3\).*\(64, 100\)"):
        layout.read_sample(entry)
    write_pfm(disp_path, np.zeros((64, 128, 3), np.float32))
    with pytest.raises(CorruptFileError, match=r"expected a 1-channel \(Pf\) map"):
        layout.read_sample(entry)


def test_missing_root_and_list(tmp_path):
    with pytest.raises(FileNotFoundError, match="SceneFlow directory not found"):
        SceneFlowLayout(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="SceneFlow_finalpass_test.txt not found"):
        SceneFlowLayout(tmp_path).entries("test")
