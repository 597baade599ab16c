"""Multi-object tracking pictures: boxes coloured by track id with a short trail, as PNG frames
and an animated GIF per sequence.

Images are RGB ``H x W x 3`` uint8 arrays, boxes ``(N, 4)`` x1 y1 x2 y2 pixels with their track
ids ``(N,)``. A track keeps its colour in every frame (:func:`track_color`); its trail joins the
bottom centres of its last ``trail_length`` boxes. :func:`visualize_mot_sequence` draws a
MOTChallenge sequence folder with its ``gt.txt`` (or a tracker's result file). GIFs are written
with Pillow (installed with matplotlib).
"""

from __future__ import annotations

import colorsys
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from hat.data.readers.mot17_files import iter_rows, read_seqinfo
from hat.data.readers.mot17_layout import MotSequence
from hat.visualize.image_io import write_rgb_png

__all__ = [
    "TrackFrame",
    "draw_tracks",
    "load_mot_tracks",
    "render_tracks",
    "save_track_visualization",
    "track_color",
    "visualize_mot_sequence",
    "write_gif",
]

_GOLDEN = 0.618033988749895
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def track_color(track_id: int) -> tuple[int, int, int]:
    """A bright RGB colour of ``track_id``, the same in every frame and run; nearby ids get far
    apart hues (golden-ratio steps)."""
    tid = int(track_id)
    hue = (tid * _GOLDEN) % 1.0
    sat = 0.65 + 0.35 * ((tid * 7) % 3) / 2
    r, g, b = colorsys.hsv_to_rgb(hue, sat, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass
class TrackFrame:
    """One frame to draw: the image and its boxes with track ids."""

    img: np.ndarray
    boxes: np.ndarray
    ids: np.ndarray


def draw_tracks(
    img: np.ndarray,
    boxes: np.ndarray,
    ids: np.ndarray,
    trails: Mapping[int, Sequence[tuple[float, float]]] | None = None,
    thickness: int = 2,
    labels: bool = True,
) -> np.ndarray:
    """A copy of ``img`` with each box outlined in its track's colour, its id written above it,
    and its trail (points, oldest first) drawn as a line."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(
            f"draw_tracks: expected an H x W x 3 uint8 image, got {img.shape} {img.dtype}"
        )
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    ids = np.asarray(ids).reshape(-1)
    if len(ids) != len(boxes):
        raise ValueError(f"draw_tracks: {len(boxes)} boxes but {len(ids)} ids")
    out = np.ascontiguousarray(img).copy()
    for tid, points in (trails or {}).items():
        if len(points) > 1:
            pts = np.round(np.asarray(points, np.float64)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], False, track_color(tid), max(1, thickness - 1))
    scale = max(0.3, min(out.shape[:2]) / 900)
    for box, tid in zip(boxes, ids, strict=True):
        color = track_color(int(tid))
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        if labels:
            org = (x1, max(y1 - 3, int(12 * scale) + 1))
            cv2.putText(out, str(int(tid)), org, _FONT, scale, color, max(1, thickness - 1))
    return out


def render_tracks(frames: Iterable[TrackFrame], trail_length: int = 10) -> Iterator[np.ndarray]:
    """The drawn frames, in order; each track's trail holds the bottom centres of its boxes in
    the last ``trail_length`` frames (a track unseen for that long loses its trail)."""
    history: dict[int, deque] = {}
    for index, frame in enumerate(frames):
        boxes = np.asarray(frame.boxes, np.float64).reshape(-1, 4)
        for box, tid in zip(boxes, np.asarray(frame.ids).reshape(-1), strict=True):
            points = history.setdefault(int(tid), deque())
            points.append((index, ((box[0] + box[2]) / 2, box[3])))
        trails = {}
        for tid in list(history):
            points = history[tid]
            while points and points[0][0] <= index - trail_length:
                points.popleft()
            if not points:
                del history[tid]
                continue
            trails[tid] = [p for _, p in points]
        yield draw_tracks(frame.img, boxes, frame.ids, trails)


def write_gif(
    path: str | os.PathLike, images: Sequence[np.ndarray], fps: float = 10.0, colors: int = 64
) -> None:
    """An animated GIF (looping) of RGB ``images`` at ``fps``, all frames on one palette of
    ``colors`` colours (taken from up to four frames spread over the sequence; one palette keeps
    unchanged pixels identical between frames, which the GIF encoder stores once). ``OSError``
    naming ``path`` when it cannot be written."""
    from PIL import Image  # Pillow: a dependency of matplotlib

    if not images:
        raise ValueError(f"write_gif: no images for {path}")
    if len({i.shape for i in images}) != 1:
        raise ValueError(f"write_gif: the images of {path} differ in size")
    picks = np.linspace(0, len(images) - 1, min(4, len(images))).round().astype(int)
    montage = Image.fromarray(np.concatenate([images[i] for i in picks], axis=0))
    palette = montage.quantize(colors, dither=Image.Dither.NONE)
    frames = [
        Image.fromarray(np.ascontiguousarray(i)).quantize(palette=palette, dither=Image.Dither.NONE)
        for i in images
    ]
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    try:
        frames[0].save(
            os.fspath(path),
            save_all=True,
            append_images=frames[1:],
            duration=int(round(1000 / fps)),
            loop=0,
        )
    except (OSError, ValueError) as exc:
        raise OSError(f"could not write GIF {path}: {exc}") from None


def _resized(img: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return img
    size = (max(1, round(img.shape[1] * factor)), max(1, round(img.shape[0] * factor)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def save_track_visualization(
    frames: Iterable[TrackFrame],
    out_dir: str | os.PathLike,
    name: str,
    fps: float = 10.0,
    trail_length: int = 10,
    png: bool = True,
    gif: bool = True,
    max_side: int | None = None,
    colors: int = 64,
) -> dict[str, object]:
    """Draw ``frames`` (:func:`render_tracks`) and write ``<out_dir>/<name>/000001.png ...``
    and/or ``<out_dir>/<name>.gif``; ``max_side`` shrinks the pictures so that their longer side
    is at most that (boxes drawn at full size first); ``colors``: the GIF's palette size.
    Returns ``{"pngs": [...], "gif": path or None, "frames": count}``."""
    out_dir = os.fspath(out_dir)
    pngs: list[str] = []
    drawn: list[np.ndarray] = []
    for index, picture in enumerate(render_tracks(frames, trail_length), start=1):
        if max_side is not None and max(picture.shape[:2]) > max_side:
            picture = _resized(picture, max_side / max(picture.shape[:2]))
        if png:
            pngs.append(os.path.join(out_dir, name, f"{index:06d}.png"))
            write_rgb_png(pngs[-1], picture)
        if gif:
            drawn.append(picture)
    gif_path = None
    if gif and drawn:
        gif_path = os.path.join(out_dir, f"{name}.gif")
        write_gif(gif_path, drawn, fps, colors)
    return {"pngs": pngs, "gif": gif_path, "frames": max(len(pngs), len(drawn))}


def load_mot_tracks(
    path: str | os.PathLike, considered_only: bool = True
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{frame: (boxes xyxy, ids)}`` from a ``gt.txt`` (9 columns; with ``considered_only``
    only considered pedestrians, class 1) or a tracker's result file (10 columns)."""
    path = os.fspath(path)
    with open(path, encoding="utf-8-sig") as f:
        first = next((line for line in f if line.strip()), "")
    columns = len(first.split(",")) if first else 9
    if columns not in (9, 10):
        raise ValueError(
            f"{path}: {columns} columns: expected a gt.txt (9) or a MOTChallenge result (10)"
        )
    rows: dict[int, list[tuple[list[float], int]]] = {}
    for lineno, fields in iter_rows(path, columns):
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise ValueError(f"{path}, line {lineno}: non-numeric field: {fields}") from None
        if columns == 9 and considered_only and (values[6] != 1 or values[7] != 1):
            continue
        left, top, width, height = values[2:6]
        rows.setdefault(int(values[0]), []).append(
            ([left, top, left + width, top + height], int(values[1]))
        )
    return {
        frame: (np.array([b for b, _ in r], np.float32), np.array([i for _, i in r], np.int64))
        for frame, r in rows.items()
    }


def visualize_mot_sequence(
    seq_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    tracks_txt: str | os.PathLike | None = None,
    max_frames: int | None = None,
    fps: float | None = None,
    trail_length: int = 10,
    png: bool = True,
    gif: bool = True,
    max_side: int | None = None,
    colors: int = 64,
) -> dict[str, object]:
    """Draw a MOTChallenge sequence folder (``seqinfo.ini``, ``img1/``) with the tracks of
    ``tracks_txt`` (default: its ``gt/gt.txt``, considered pedestrians) as PNGs and a GIF named
    after the sequence; ``fps`` defaults to the sequence's frame rate."""
    seq_dir = os.fspath(seq_dir)
    seq = MotSequence(seq_dir, read_seqinfo(os.path.join(seq_dir, "seqinfo.ini")))
    tracks = load_mot_tracks(tracks_txt or seq.gt_path)
    count = seq.info.seq_length if max_frames is None else min(max_frames, seq.info.seq_length)
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))

    def frames() -> Iterator[TrackFrame]:
        for frame in range(1, count + 1):
            path = seq.image_path(frame)
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            if bgr is None:
                raise FileNotFoundError(f"cannot read the image of frame {frame}: {path}")
            boxes, ids = tracks.get(frame, empty)
            yield TrackFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), boxes, ids)

    return save_track_visualization(
        frames(),
        out_dir,
        seq.name,
        fps=fps or seq.info.frame_rate,
        trail_length=trail_length,
        png=png,
        gif=gif,
        max_side=max_side,
        colors=colors,
    )
