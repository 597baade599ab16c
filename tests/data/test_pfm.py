import os
import struct

import cv2
import numpy as np
import pytest

from hat.data.errors import CorruptFileError
from hat.data.readers.pfm import read_pfm, read_pfm_header, write_pfm


def _write_bytes(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_hand_written_little_endian_rows_bottom_to_top(tmp_path):
    # 3 wide, 2 high; the file stores the bottom row (4, 5, 6) first
    raster = struct.pack("<6f", 4.0, 5.0, 6.0, 1.0, 2.0, 3.5)
    path = _write_bytes(tmp_path / "le.pfm", b"Pf\n3 2\n-1.0\n" + raster)
    disp = read_pfm(path)
    np.testing.assert_array_equal(disp, [[1.0, 2.0, 3.5], [4.0, 5.0, 6.0]])
    assert disp.dtype == np.float32 and disp.flags.c_contiguous and disp.flags.writeable
    head = read_pfm_header(path)
    assert (head.channels, head.width, head.height) == (1, 3, 2)
    assert head.little_endian and head.scale == 1.0 and head.data_offset == 12


def test_hand_written_big_endian_colour(tmp_path):
    # 1 wide, 2 high, 3 channels, big-endian, scale 2.5, single spaces between header fields
    raster = struct.pack(">6f", 7.0, 8.0, 9.0, 0.5, -1.0, 1e6)  # bottom pixel first
    path = _write_bytes(tmp_path / "be.pfm", b"PF 1 2 2.5\n" + raster)
    img = read_pfm(path)
    assert img.shape == (2, 1, 3)
    np.testing.assert_array_equal(img[0, 0], [0.5, -1.0, 1e6])
    np.testing.assert_array_equal(img[1, 0], [7.0, 8.0, 9.0])
    head = read_pfm_header(path)
    assert not head.little_endian and head.scale == 2.5


@pytest.mark.parametrize("little_endian", [True, False])
def test_round_trip_and_opencv_agrees(tmp_path, little_endian):
    rng = np.random.default_rng(0)
    disp = rng.uniform(0, 190, (5, 7)).astype(np.float32)
    path = str(tmp_path / "d.pfm")
    write_pfm(path, disp, little_endian=little_endian)
    np.testing.assert_array_equal(read_pfm(path), disp)
    np.testing.assert_array_equal(cv2.imread(path, cv2.IMREAD_UNCHANGED), disp)
    with open(path, "rb") as f:
        header = f.readline() + f.readline() + f.readline()
    assert header == (b"Pf\n7 5\n-1.0\n" if little_endian else b"Pf\n7 5\n1.0\n")
    rgb = rng.normal(size=(4, 3, 3)).astype(np.float32)
    write_pfm(path, rgb, scale=0.5, little_endian=little_endian)
    np.testing.assert_array_equal(read_pfm(path), rgb)
    assert read_pfm_header(path).scale == 0.5
    # OpenCV divides by the scale; read_pfm returns the stored values, as SceneFlow readers do
    np.testing.assert_allclose(cv2.imread(path, cv2.IMREAD_UNCHANGED)[..., ::-1] * 0.5, rgb)


def test_write_is_atomic_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "d.pfm")
    write_pfm(path, np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        write_pfm(path, np.ones((2, 2, 2), np.float32))
    assert os.listdir(tmp_path) == ["d.pfm"]
    np.testing.assert_array_equal(read_pfm(path), np.ones((2, 2)))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"P6\n3 2\n255\n" + bytes(18), "not a PFM file"),
        (b"PFx\n3 2\n-1.0\n" + bytes(72), "not a PFM file"),
        (b"Pf\n3 x\n-1.0\n" + bytes(24), "bad PFM dimensions"),
        (b"Pf\n-3 2\n-1.0\n" + bytes(24), "bad PFM dimensions"),
        (b"Pf\n0 2\n-1.0\n", "implausible PFM size"),
        (b"Pf\n3 2\nabc\n" + bytes(24), "bad PFM scale 'abc'|bad PFM scale b'abc'"),
        (b"Pf\n3 2\n0.0\n" + bytes(24), "bad PFM scale"),
        (b"Pf\n3 2\n-1.0\n" + bytes(20), "truncated PFM file.*expected 36 bytes, got 32"),
        (b"Pf\n3 2\n-1.0\n" + bytes(28), "oversized PFM file"),
        (b"Pf\n3 2", "truncated PFM header"),
        (b"", "not a PFM file"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, content, message):
    path = _write_bytes(tmp_path / "bad.pfm", content)
    with pytest.raises(CorruptFileError, match=message) as info:
        read_pfm(path)
    assert str(info.value).startswith(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="PFM file not found: .*nope.pfm"):
        read_pfm(tmp_path / "nope.pfm")
