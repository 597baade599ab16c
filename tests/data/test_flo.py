import cv2
import numpy as np
import pytest

from hat.data.errors import CorruptFileError
from hat.data.readers.flo import read_flo, write_flo


def _flow(h=5, w=7, seed=0):
    return np.random.default_rng(seed).normal(scale=10, size=(h, w, 2)).astype(np.float32)


def test_round_trip_and_opencv_agrees(tmp_path):
    flow = _flow()
    path = tmp_path / "a.flo"
    write_flo(path, flow)
    assert path.stat().st_size == 12 + 5 * 7 * 2 * 4
    got = read_flo(path)
    assert got.dtype == np.float32 and got.shape == (5, 7, 2)
    np.testing.assert_array_equal(got, flow)
    # an independent reader: OpenCV's Middlebury reader
    np.testing.assert_array_equal(cv2.readOpticalFlow(str(path)), flow)
    assert got.flags.writeable


def test_reads_a_file_written_by_opencv(tmp_path):
    flow = _flow(3, 4, seed=1)
    path = str(tmp_path / "cv.flo")
    assert cv2.writeOpticalFlow(path, flow)
    np.testing.assert_array_equal(read_flo(path), flow)


def test_header_layout(tmp_path):
    path = tmp_path / "h.flo"
    write_flo(path, _flow(2, 3))
    data = path.read_bytes()
    assert data[:4] == b"PIEH"
    assert np.frombuffer(data[4:12], "<i4").tolist() == [3, 2]  # width, height


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "bad.flo"
    write_flo(path, _flow())
    data = bytearray(path.read_bytes())
    data[:4] = b"XXXX"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"bad\.flo.*magic.*202021\.25"):
        read_flo(path)


def test_truncated_names_file_and_byte_counts(tmp_path):
    path = tmp_path / "trunc.flo"
    write_flo(path, _flow())
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    expected, actual = len(data), len(data) - 10
    with pytest.raises(CorruptFileError, match=rf"trunc\.flo.*truncated.*{expected}.*{actual}"):
        read_flo(path)
    path.write_bytes(data[:6])
    with pytest.raises(CorruptFileError, match=r"trunc\.flo.*12 header bytes, got 6"):
        read_flo(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.flo"):
        read_flo(tmp_path / "nope.flo")


def test_write_rejects_bad_shape(tmp_path):
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        write_flo(tmp_path / "x.flo", np.zeros((4, 4, 3), np.float32))
