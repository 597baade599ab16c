import os
import shutil

import pytest

from hat.data.errors import CorruptFileError
from hat.data.readers.flyingchairs_layout import FlyingChairsLayout, read_split_file


def test_pair_ids_and_paths(chairs_root):
    layout = FlyingChairsLayout(chairs_root)
    labels = read_split_file(layout.split_file)
    assert len(labels) == 10 and set(labels) == {1, 2}
    train, val = layout.pair_ids("train"), layout.pair_ids("val")
    assert sorted(train + val) == list(range(1, 11))
    assert all(labels[i - 1] == 2 for i in val)
    p1, p2, pf = layout.pair_paths(3)
    assert p1.endswith(os.path.join("FlyingChairs_release", "data", "00003_img1.ppm"))
    assert p2.endswith("00003_img2.ppm") and pf.endswith("00003_flow.flo")
    with pytest.raises(ValueError, match="'test'"):
        layout.pair_ids("test")


def test_split_file_inside_release_and_release_as_root(chairs_copy):
    split = os.path.join(chairs_copy, "FlyingChairs_train_val.txt")
    release = os.path.join(chairs_copy, "FlyingChairs_release")
    shutil.move(split, os.path.join(release, "FlyingChairs_train_val.txt"))
    assert len(FlyingChairsLayout(chairs_copy).pair_ids("train")) == 8
    assert len(FlyingChairsLayout(release).pair_ids("train")) == 8


def test_missing_split_file(chairs_copy):
    os.remove(os.path.join(chairs_copy, "FlyingChairs_train_val.txt"))
    with pytest.raises(FileNotFoundError, match="FlyingChairs_train_val.txt not found"):
        FlyingChairsLayout(chairs_copy)


def test_missing_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="image directory not found"):
        FlyingChairsLayout(tmp_path)
    with pytest.raises(FileNotFoundError, match="directory not found"):
        FlyingChairsLayout(tmp_path / "absent")


def test_bad_split_lines(tmp_path):
    path = tmp_path / "split.txt"
    path.write_text("1\n2\n\n")  # trailing blank lines are fine
    assert read_split_file(path) == [1, 2]
    path.write_text("1\n3\n1\n")
    with pytest.raises(CorruptFileError, match=r"split\.txt:2: bad split line '3'"):
        read_split_file(path)
    path.write_text("1\n\n2\n")
    with pytest.raises(CorruptFileError, match=r"split\.txt:2"):
        read_split_file(path)
    path.write_text("")
    with pytest.raises(CorruptFileError, match="empty split file"):
        read_split_file(path)
