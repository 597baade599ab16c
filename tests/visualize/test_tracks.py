"""Tracking pictures: colours by id, boxes and trails at the right pixels, PNGs and a GIF."""

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from hat.data.readers.mot17_files import SeqInfo, seqinfo_text
from hat.visualize.tracks import (
    TrackFrame,
    draw_tracks,
    load_mot_tracks,
    render_tracks,
    save_track_visualization,
    track_color,
    visualize_mot_sequence,
)

H, W = 48, 80


def _walker(n: int, gone_after: int | None = None) -> list[TrackFrame]:
    """Track 5 walks right 6 px per frame (and leaves after ``gone_after`` frames); track 9
    stands still."""
    frames = []
    for k in range(n):
        boxes, ids = [[60, 10, 70, 30]], [9]
        if gone_after is None or k < gone_after:
            boxes.append([4 + 6 * k, 20, 12 + 6 * k, 40])
            ids.append(5)
        frames.append(TrackFrame(np.zeros((H, W, 3), np.uint8), np.array(boxes), np.array(ids)))
    return frames


def test_colors_are_stable_and_distinct():
    colors = [track_color(i) for i in range(1, 31)]
    assert len(set(colors)) == 30 and colors == [track_color(i) for i in range(1, 31)]
    assert all(max(c) == 255 for c in colors)  # bright on any background


def test_box_outline_in_its_track_color():
    out = draw_tracks(np.zeros((H, W, 3), np.uint8), [[10, 5, 30, 25]], [3], labels=False)
    color = list(track_color(3))
    assert out[5, 20].tolist() == color and out[25, 20].tolist() == color  # top, bottom edges
    assert out[15, 10].tolist() == color and out[15, 30].tolist() == color  # left, right edges
    assert out[15, 20].tolist() == [0, 0, 0]  # inside stays
    with pytest.raises(ValueError, match=r"2 boxes but 1 ids"):
        draw_tracks(out, [[0, 0, 1, 1], [1, 1, 2, 2]], [1])


def test_trail_follows_the_bottom_centres_and_expires():
    drawn = list(render_tracks(_walker(6, gone_after=4), trail_length=3))
    color = list(track_color(5))
    # frame 3: the trail joins the bottom centres of frames 1..3, (14, 40) (20, 40) (26, 40)
    mask = np.all(drawn[3] == color, axis=-1)
    assert mask[40, 14:26].all()
    assert not mask[40, 4:12].any()  # frame 0's centre (8, 40) has left the 3-frame trail
    # track 5 left after frame 3: three frames later nothing of it is drawn
    assert not np.all(drawn[5] == color, axis=-1).any()
    assert np.all(drawn[5] == list(track_color(9)), axis=-1).any()


def test_pngs_and_gif_written(tmp_path):
    result = save_track_visualization(_walker(5), tmp_path, "seq", fps=5, trail_length=3)
    assert result["frames"] == 5 and len(result["pngs"]) == 5
    assert sorted(os.listdir(tmp_path / "seq")) == [f"{i:06d}.png" for i in range(1, 6)]
    expected = list(render_tracks(_walker(5), trail_length=3))
    back = cv2.cvtColor(cv2.imread(result["pngs"][2]), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, expected[2])
    with Image.open(result["gif"]) as gif:
        assert gif.size == (W, H) and gif.n_frames == 5
        assert gif.info["duration"] == 200 and gif.info["loop"] == 0
        gif.seek(2)
        rgb = np.asarray(gif.convert("RGB"))
        on_box = np.all(expected[2] == list(track_color(9)), axis=-1)
        assert np.abs(rgb[on_box].astype(int) - list(track_color(9))).max() < 40
    small = save_track_visualization(_walker(2), tmp_path, "small", png=False, max_side=40)
    assert small["pngs"] == [] and Image.open(small["gif"]).size == (40, 24)


def _tiny_sequence(root) -> str:
    seq = os.path.join(root, "MOT17-09-FRCNN")
    os.makedirs(os.path.join(seq, "img1"))
    os.makedirs(os.path.join(seq, "gt"))
    with open(os.path.join(seq, "seqinfo.ini"), "w") as f:
        f.write(seqinfo_text(SeqInfo("MOT17-09-FRCNN", "img1", 30, 3, W, H, ".jpg")))
    for frame in range(1, 4):
        cv2.imwrite(os.path.join(seq, "img1", f"{frame:06d}.jpg"), np.full((H, W, 3), 90, np.uint8))
    with open(os.path.join(seq, "gt", "gt.txt"), "w") as f:
        f.write("1,1,10,5,8,16,1,1,1\n2,1,14,5,8,16,1,1,1\n3,1,18,5,8,16,1,1,1\n")
        f.write("1,2,40,5,8,16,0,1,1\n1,3,50,5,8,16,1,7,1\n")  # not considered; static person
    return seq


def test_load_mot_tracks_gt_and_results(tmp_path):
    seq = _tiny_sequence(tmp_path)
    tracks = load_mot_tracks(os.path.join(seq, "gt", "gt.txt"))
    assert sorted(tracks) == [1, 2, 3]
    boxes, ids = tracks[2]
    assert ids.tolist() == [1] and boxes.tolist() == [[14, 5, 22, 21]]
    assert load_mot_tracks(os.path.join(seq, "gt", "gt.txt"), considered_only=False)[1][
        1
    ].tolist() == [1, 2, 3]
    results = tmp_path / "res.txt"
    results.write_text("1,7,1.5,2,10,20,0.9,-1,-1,-1\n")
    boxes, ids = load_mot_tracks(results)[1]
    assert ids.tolist() == [7] and boxes.tolist() == [[1.5, 2, 11.5, 22]]
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"bad\.txt: 3 columns"):
        load_mot_tracks(bad)


def test_visualize_a_sequence_folder(tmp_path):
    seq = _tiny_sequence(tmp_path / "data")
    result = visualize_mot_sequence(seq, tmp_path / "vis", trail_length=5)
    assert result["frames"] == 3 and result["gif"] == str(tmp_path / "vis" / "MOT17-09-FRCNN.gif")
    with Image.open(result["gif"]) as gif:
        assert gif.n_frames == 3 and gif.info["duration"] == 30  # 30 fps, in GIF's 10 ms steps
    last = cv2.cvtColor(cv2.imread(result["pngs"][-1]), cv2.COLOR_BGR2RGB)
    assert np.all(last == list(track_color(1)), axis=-1).any()
    assert not np.all(last == list(track_color(2)), axis=-1).any()  # not considered: not drawn
