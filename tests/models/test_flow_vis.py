"""Flow colour coding, .flo files and the PNG panel."""

import cv2
import numpy as np
import pytest

from hat.visualize import (
    flow_to_color,
    make_colorwheel,
    read_flo,
    save_flow_visualization,
    wheel_legend,
    write_flo,
)


def _uniform(u, v, h=4, w=5):
    f = np.zeros((h, w, 2), np.float32)
    f[..., 0], f[..., 1] = u, v
    return f


def test_colorwheel_shape():
    wheel = make_colorwheel()
    assert wheel.shape == (55, 3)
    np.testing.assert_array_equal(wheel[0], [255, 0, 0])


def test_known_colours():
    np.testing.assert_array_equal(flow_to_color(_uniform(1, 0))[0, 0], [255, 0, 0])  # right: red
    left = flow_to_color(_uniform(-1, 0))[0, 0]
    assert left[0] < 30 and left[1] > 150 and left[2] > 200  # left: cyan
    down = flow_to_color(_uniform(0, 1))[0, 0]
    assert down[0] > 200 and down[1] > 150 and down[2] < 50  # down: yellow/orange
    up = flow_to_color(_uniform(0, -1))[0, 0]
    assert up[2] > 200 and up[1] < 50  # up: blue/violet
    np.testing.assert_array_equal(flow_to_color(_uniform(0, 0))[0, 0], [255, 255, 255])
    half = flow_to_color(_uniform(1, 0), max_flow=2.0)[0, 0]
    assert half[0] == 255 and 100 < half[1] < 160  # half saturation
    dark = flow_to_color(_uniform(3, 0), max_flow=1.0)[0, 0]
    assert tuple(dark) == (191, 0, 0)  # beyond max_flow: darkened


def test_layouts_and_unknown():
    f = _uniform(1, 0)
    f[0, 0] = np.nan
    a = flow_to_color(f)
    b = flow_to_color(f.transpose(2, 0, 1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0, 0], [0, 0, 0])
    with pytest.raises(ValueError):
        flow_to_color(np.zeros((4, 4, 3)))


def test_flo_roundtrip(tmp_path):
    f = np.random.default_rng(0).normal(size=(7, 9, 2)).astype(np.float32)
    write_flo(tmp_path / "x.flo", f)
    np.testing.assert_array_equal(read_flo(tmp_path / "x.flo"), f)
    assert (tmp_path / "x.flo").stat().st_size == 12 + 7 * 9 * 8
    (tmp_path / "bad.flo").write_bytes(b"nope" + bytes(8))
    with pytest.raises(ValueError, match="magic"):
        read_flo(tmp_path / "bad.flo")


def test_panel_png(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    flow = rng.normal(size=(32, 48, 2))
    panel = save_flow_visualization(tmp_path / "p.png", img, img, flow)
    assert panel.shape == (32, 48 * 3, 3)
    full = save_flow_visualization(tmp_path / "q.png", img, img, flow, gt=flow + 1)
    assert full.shape == (64, 48 * 3, 3)
    back = cv2.imread(str(tmp_path / "q.png"))
    assert back.shape == full.shape
    legend = wheel_legend(32)
    assert legend.shape == (32, 32, 3) and (legend[0, 0] == 255).all()
