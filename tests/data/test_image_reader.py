import cv2
import numpy as np
import pytest

from hat.data.errors import CorruptFileError
from hat.data.readers.image import read_image, write_ppm


def test_ppm_round_trip_matches_opencv(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    path = tmp_path / "a.ppm"
    write_ppm(path, img)
    assert path.read_bytes().startswith(b"P6\n9 6\n255\n")
    np.testing.assert_array_equal(read_image(path), img)  # RGB
    np.testing.assert_array_equal(read_image(path, to_rgb=False), img[..., ::-1])
    np.testing.assert_array_equal(cv2.imread(str(path))[..., ::-1], img)


def test_missing_image_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"00001_img1\.ppm"):
        read_image(tmp_path / "00001_img1.ppm")


def test_truncated_image_names_the_file(tmp_path):
    path = tmp_path / "cut.ppm"
    write_ppm(path, np.zeros((20, 20, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match=r"cut\.ppm.*unreadable image \(100 bytes\)"):
        read_image(path)
