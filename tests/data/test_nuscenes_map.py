"""The map expansion parser and the HDMapNet-style map target, on hand-made maps."""

from __future__ import annotations

import json
import math
import os

import cv2
import numpy as np
import pytest

from hat.data.errors import CorruptFileError
from hat.data.nuscenes_map import (
    MapGrid,
    draw_polylines,
    layer_lines,
    load_location_map,
    load_map_expansion,
    local_map_vectors,
    map_target,
)

MAP_SIZE = (15, 30, 0.15)  # the recipe: 200 rows (ego y) x 400 columns (ego x)
LOCATION = "singapore-onenorth"


class MapWriter:
    """A map expansion JSON in the devkit's format (all the layers its loader reads)."""

    def __init__(self) -> None:
        self.data: dict = {
            "version": "1.3",
            "canvas_edge": [1000.0, 1000.0],
            "node": [],
            "line": [],
            "polygon": [],
            "arcline_path_3": {},
            "connectivity": {},
            "lane_connector": [],
        }
        for layer in (
            "drivable_area road_segment road_block lane ped_crossing walkway stop_line "
            "carpark_area road_divider lane_divider traffic_light"
        ).split():
            self.data[layer] = []

    def _nodes(self, xy) -> list[str]:
        tokens = []
        for x, y in xy:
            token = f"n{len(self.data['node'])}"
            self.data["node"].append({"token": token, "x": float(x), "y": float(y)})
            tokens.append(token)
        return tokens

    def line(self, layer: str, xy) -> None:
        token = f"l{len(self.data['line'])}"
        self.data["line"].append({"token": token, "node_tokens": self._nodes(xy)})
        record = {"token": f"{layer}{len(self.data[layer])}", "line_token": token}
        if layer == "road_divider":
            record["road_segment_token"] = None
        self.data[layer].append(record)

    def polygon(self, layer: str, xy) -> None:
        token = f"p{len(self.data['polygon'])}"
        self.data["polygon"].append(
            {"token": token, "exterior_node_tokens": self._nodes(xy), "holes": []}
        )
        record = {"token": f"{layer}{len(self.data[layer])}", "polygon_token": token}
        if layer == "road_segment":
            record.update(is_intersection=False, drivable_area_token="")
        if layer == "lane":
            record.update(
                lane_type="CAR", from_edge_line_token=None, to_edge_line_token=None,
                left_lane_divider_segments=[], right_lane_divider_segments=[],
            )  # fmt: skip
        if layer == "ped_crossing":
            record["road_segment_token"] = None
        self.data[layer].append(record)

    def write(self, root, location: str = LOCATION) -> str:
        folder = os.path.join(root, "maps", "expansion")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{location}.json")
        with open(path, "w") as f:
            json.dump(self.data, f)
        return path


def rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def pose(x: float, y: float, yaw_deg: float) -> np.ndarray:
    a = math.radians(yaw_deg)
    m = np.eye(4)
    m[:2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    m[:3, 3] = (x, y, 0.0)
    return m


def target(tmp_path, writer: MapWriter, ego2global: np.ndarray) -> np.ndarray:
    writer.write(tmp_path)
    sample = {"location": LOCATION, "ego2global": ego2global}
    return map_target(sample, tmp_path, MAP_SIZE)


def test_grid_follows_hdmapnet():
    grid = MapGrid(MAP_SIZE)
    assert grid.patch_size == (30.0, 60.0) and grid.canvas_size == (200, 400)
    with pytest.raises(ValueError, match="lateral_half_m"):
        MapGrid((15, 30))


def test_straight_divider_along_ego_x(tmp_path):
    w = MapWriter()
    w.line("lane_divider", [(100.0, 50.0), (200.0, 50.0)])
    mask = target(tmp_path, w, pose(150.0, 50.0, 0.0))
    assert mask.shape == (200, 400) and mask.dtype == np.int64
    rows, cols = np.nonzero(mask)
    assert set(mask[rows, cols]) == {1}
    # y = 0 -> row int(15 * 200 / 30) = 100; cv2's thickness 5 covers 3 cells either side
    assert (rows.min(), rows.max()) == (97, 103)
    # resampled every metre from x = -30 to x = 29 (the last partial metre is dropped):
    # columns 0 .. int(59 * 400 / 60) = 393, plus the round cap of 3 cells
    assert (cols.min(), cols.max()) == (0, 396)
    assert mask[97:104, 0:394].all()


def test_divider_across_a_turned_ego(tmp_path):
    w = MapWriter()
    w.line("road_divider", [(100.0, 50.0), (200.0, 50.0)])
    # ego at (150, 50) heading +y: the line runs along ego y at x = 0, from y = +15 to -15
    mask = target(tmp_path, w, pose(150.0, 50.0, 90.0))
    rows, cols = np.nonzero(mask == 1)
    assert (cols.min(), cols.max()) == (197, 203)  # x = 0 -> column 200
    # points y = 15, 14, ..., -14: rows 200 (off the canvas) down to int(1 * 200 / 30) = 6
    assert (rows.min(), rows.max()) == (3, 199)
    assert (mask == 1).sum() == len(rows) and not mask[:, :190].any()


def test_crossing_draws_its_two_long_sides(tmp_path):
    w = MapWriter()
    # a zebra 3 m deep (along ego x) and 10 m wide, 10 m ahead of the ego
    w.polygon("ped_crossing", rect(8.5, -5.0, 11.5, 5.0))
    mask = target(tmp_path, w, np.eye(4))
    rows, cols = np.nonzero(mask)
    assert set(mask[rows, cols]) == {2}
    # long sides x = 8.5 and x = 11.5 -> columns int(38.5 * 20 / 3) = 256 and 276
    assert set(np.unique(cols)) == set(range(253, 260)) | set(range(273, 280))
    assert not mask[:, 260:273].any()  # the short sides are not drawn
    # each side is resampled from its start along the ring (1 m steps, the last metre dropped):
    # x = 11.5 runs y = -5 .. 4 (rows 66 .. 126), x = 8.5 runs back y = 5 .. -4 (rows 133 .. 73)
    side = np.nonzero(mask[:, 276])[0]
    assert (side.min(), side.max()) == (63, 129)
    side = np.nonzero(mask[:, 256])[0]
    assert (side.min(), side.max()) == (70, 136)


def test_boundary_of_road_and_lane_union(tmp_path):
    w = MapWriter()
    w.polygon("road_segment", rect(-100.0, -5.0, 100.0, 5.0))
    w.polygon("lane", rect(-100.0, -1.0, 100.0, 2.0))  # inside the road: no boundary of its own
    w.polygon("lane", rect(10.0, 4.0, 20.0, 9.0))  # sticks out of the road's left edge
    mask = target(tmp_path, w, np.eye(4))
    assert set(np.unique(mask)) == {0, 3}
    # the road's edges y = -5 (row int(10 * 20 / 3) = 66) and y = +5 (row 133), 7 cells wide
    rows_at = lambda col: np.nonzero(mask[:, col])[0].tolist()  # noqa: E731
    assert rows_at(100) == [*range(63, 70), *range(130, 137)]
    assert mask[63:70, 5:395].all() and mask[130:137, 5:260].all()
    assert not mask[70:130].any()  # the inner lane and the road's interior are not boundary
    # the bump: x from 10 to 20 (columns 266 and 333), up to y = 9 (row 160)
    assert rows_at(300) == [*range(63, 70), *range(157, 164)]
    assert np.nonzero(mask[150])[0].tolist() == [*range(263, 270), *range(330, 337)]
    assert not mask[130:137, 275:325].any()  # the road's edge inside the bump is no boundary
    assert not mask[164:].any()
    # the cut along the patch edges (x = +-30) is not a boundary
    assert not mask[70:130, 0:5].any() and not mask[70:130, 395:].any()


def test_boundary_wins_over_crossing_over_divider(tmp_path):
    w = MapWriter()
    w.polygon("road_segment", rect(-100.0, -6.0, 100.0, 6.0))
    w.line("lane_divider", [(-100.0, 5.8), (100.0, 5.8)])  # inside the boundary's wide band
    w.line("lane_divider", [(-100.0, 0.0), (100.0, 0.0)])
    w.polygon("ped_crossing", rect(-2.0, -6.0, 2.0, 6.0))
    mask = target(tmp_path, w, np.eye(4))
    # boundaries y = -6 (row 60) and y = +6 (row 140); the divider at y = 5.8 (row 138) is
    # cleared by the boundary's band (thickness 5 + 4); the one at y = 0 (row 100) stays
    column = {int(r): int(mask[r, 100]) for r in np.nonzero(mask[:, 100])[0]}
    expected = dict.fromkeys(range(57, 64), 3) | dict.fromkeys(range(97, 104), 1)
    assert column == expected | dict.fromkeys(range(137, 144), 3)
    # along y = 0: the crossing sides x = -2 (column 186) and x = +2 (213) replace the divider,
    # and their wide band clears it 2 more cells either side
    run = [1] * 10 + [0] * 2 + [2] * 7 + [0] * 2 + [1] * 16 + [0] * 2 + [2] * 7 + [0] * 2
    assert mask[100, 171:230].tolist() == run + [1] * 11


def test_vectors_are_resampled_in_the_ego_frame(tmp_path):
    w = MapWriter()
    w.line("lane_divider", [(0.0, 0.0), (10.0, 0.0)])
    expansion = load_map_expansion(w.write(tmp_path))
    ego = pose(5.0, 0.0, 180.0)  # looking back along the line
    vectors = local_map_vectors(expansion, ego)
    (points,) = vectors["divider"]
    np.testing.assert_allclose(points[:, 0], np.arange(5.0, -5.0, -1.0), atol=1e-9)
    np.testing.assert_allclose(points[:, 1], 0.0, atol=1e-9)
    assert vectors["ped_crossing"] == [] and vectors["boundary"] == []
    grid = MapGrid(MAP_SIZE)
    # one cell per column from int(35 * 20 / 3) = 233 down to int(26 * 20 / 3) = 173, row 100
    drawn = draw_polylines([points], grid, 1)
    assert np.nonzero(drawn[100])[0].tolist() == list(range(173, 234))
    assert drawn.sum() == 61


def test_parsed_maps_are_cached_per_location_and_follow_changes(tmp_path):
    w = MapWriter()
    w.line("lane_divider", [(0.0, 0.0), (10.0, 0.0)])
    w.write(tmp_path)
    first = load_location_map(tmp_path, LOCATION)
    assert load_location_map(tmp_path, LOCATION) is first
    w.line("road_divider", [(0.0, 3.0), (10.0, 3.0)])
    path = w.write(tmp_path)
    os.utime(path, ns=(1, 1))  # a different modification time
    second = load_location_map(tmp_path, LOCATION)
    assert second is not first and len(second["road_divider"].geoms) == 1
    # the other layouts: <map_path>/expansion/<loc>.json and <map_path>/<loc>.json
    assert load_location_map(tmp_path / "maps", LOCATION).path == os.path.realpath(path)
    assert load_location_map(tmp_path / "maps" / "expansion", LOCATION).path == path


def test_missing_and_malformed_map_files_name_the_file_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="singapore-queenstown.json"):
        map_target(
            {"location": "singapore-queenstown", "ego2global": np.eye(4)}, tmp_path, MAP_SIZE
        )
    w = MapWriter()
    w.line("lane_divider", [(0.0, 0.0), (10.0, 0.0)])
    path = w.write(tmp_path)

    def broken(change) -> str:
        data = json.loads(json.dumps(w.data))
        change(data)
        with open(path, "w") as f:
            json.dump(data, f)
        return path

    with pytest.raises(CorruptFileError, match=r"lacks the table 'ped_crossing'"):
        load_map_expansion(broken(lambda d: d.pop("ped_crossing")))
    with pytest.raises(CorruptFileError, match=r"lane_divider\[0\] references line 'nope'"):
        load_map_expansion(broken(lambda d: d["lane_divider"][0].update(line_token="nope")))
    with pytest.raises(CorruptFileError, match=r"line\[0\] .* references node 'n9'"):
        load_map_expansion(broken(lambda d: d["line"][0]["node_tokens"].append("n9")))
    with pytest.raises(CorruptFileError, match=r"node\[1\] \(token 'n1'\) lacks 'y'"):
        load_map_expansion(broken(lambda d: d["node"][1].pop("y")))
    with open(path, "w") as f:
        f.write('{"node": [')
    with pytest.raises(CorruptFileError, match=f"{path}: not a valid JSON"):
        load_map_expansion(path)


def test_map_target_equals_the_devkit_map_mask_for_line_layers(tmp_path):
    map_api = pytest.importorskip("nuscenes.map_expansion.map_api")
    w = MapWriter()
    w.line("lane_divider", [(100.0, 100.0), (160.0, 130.0), (230.0, 131.0)])
    w.line("road_divider", [(120.0, 80.0), (125.0, 160.0)])
    w.polygon("ped_crossing", rect(140.0, 105.0, 144.0, 125.0))
    w.write(tmp_path)
    nusc_map = map_api.NuScenesMap(dataroot=str(tmp_path), map_name=LOCATION)
    expansion = load_location_map(tmp_path, LOCATION)
    grid = MapGrid(MAP_SIZE)
    for x, y, yaw in [
        (150.0, 120.0, 0.0),
        (141.3, 118.2, 33.0),
        (130.0, 118.0, -100.0),
        (140, 110, 150),
    ]:
        # the devkit draws the whole lines of a layer 2 cells thick: so do we, not resampled
        devkit = nusc_map.get_map_mask(
            (x, y, *grid.patch_size), yaw, ["road_divider", "lane_divider"], grid.canvas_size
        )
        for layer, expected in zip(("road_divider", "lane_divider"), devkit):
            ours = draw_polylines(layer_lines(expansion, layer, pose(x, y, yaw)), grid, 2)
            assert expected.sum() > 100
            np.testing.assert_array_equal(ours, expected)


def test_boundaries_and_crossings_trace_the_devkit_polygon_masks(tmp_path):
    map_api = pytest.importorskip("nuscenes.map_expansion.map_api")
    w = MapWriter()
    w.polygon("road_segment", rect(100.0, 110.0, 200.0, 124.0))
    w.polygon("road_segment", [(140.0, 100.0), (150.0, 100.0), (158.0, 140.0), (146.0, 141.0)])
    w.polygon("lane", rect(120.0, 123.0, 135.0, 128.0))
    w.polygon("ped_crossing", rect(160.0, 110.0, 164.0, 124.0))
    w.write(tmp_path)
    nusc_map = map_api.NuScenesMap(dataroot=str(tmp_path), map_name=LOCATION)
    inner = np.zeros((200, 400), bool)
    inner[10:-10, 10:-10] = True  # away from the cut along the patch edges
    for x, y, yaw in [(150.0, 117.0, 0.0), (145.0, 118.0, 30.0), (150.0, 120.0, -75.0)]:
        fills = nusc_map.get_map_mask(
            (x, y, 30.0, 60.0), yaw, ["road_segment", "lane", "ped_crossing"], (200, 400)
        )
        ours = map_target({"location": LOCATION, "ego2global": pose(x, y, yaw)}, tmp_path, MAP_SIZE)
        for fill, label in ((fills[0] | fills[1], 3), (fills[2], 2)):
            edge = (fill ^ cv2.erode(fill, np.ones((3, 3), np.uint8))).astype(bool)
            assert (edge & inner).sum() > 100
            if label == 3:  # every edge cell of the road/lane union is boundary
                assert (ours[edge & inner] == 3).all()
            # and every cell we draw is on an edge of the devkit's polygons, within the line's
            # reach (3 cells), its cap and the corners cut by the 1 m resampling
            dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)
            drawn = (ours == label) & inner
            assert drawn.sum() > 100 and dist[drawn].max() <= 4.5
