"""A synthetic FlyingChairs: textured layers under random affine motions, with exact flow.

Each pair is a stack of layers painted in depth order: a background covering the frame and 2-5
foreground "chairs" (random polygons / ellipses / blobs), each with its own multi-scale colour
texture. Layer ``L`` has a placement ``G_L`` (texture coordinates -> img1 pixels) and a motion
``M_L`` (img1 pixels -> img2 pixels; small rotation and scale about the layer's centre plus a
translation of up to ``max_translation`` px at 512 px width, scaled with the width).

- img1(p) = texture_L(G_L^-1 p) for the top layer covering p;
- img2(q) = texture_L(G_L^-1 M_L^-1 q) for the top layer covering M_L^-1 q (backward mapping);
- flow(p) = M_L p - p for the top layer at p in img1, hence exact.

``valid`` marks the img1 pixels whose match is inside img2 and not hidden by another layer.
Written layout (as the real release)::

    <out>/FlyingChairs_release/data/00001_img1.ppm, 00001_img2.ppm, 00001_flow.flo, ...
    <out>/FlyingChairs_release/README.txt
    <out>/FlyingChairs_train_val.txt
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from hat.data.readers.flo import write_flo
from hat.data.readers.flyingchairs_layout import RELEASE_DIR, SPLIT_FILE_NAME
from hat.data.readers.image import write_ppm
from hat.data.synthetic.layer_render import render_layers
from hat.data.synthetic.warp_check import warp_errors
from hat.utils.process_map import ProcessMap

__all__ = ["SyntheticPair", "check_pair", "make_flyingchairs", "render_pair"]


@dataclass
class SyntheticPair:
    """img1/img2 ``(H, W, 3)`` uint8 RGB, flow ``(H, W, 2)`` float32, valid ``(H, W)`` bool."""

    img1: np.ndarray
    img2: np.ndarray
    flow: np.ndarray
    valid: np.ndarray


@dataclass
class _Layer:
    texture: np.ndarray  # (th, tw, 3) float32, 0..255
    mask: np.ndarray | None  # (th, tw) float32 in {0, 1}; None = covers everything
    placement: np.ndarray  # 3x3: texture coords -> img1 pixels
    motion: np.ndarray  # 3x3: img1 pixels -> img2 pixels


def _texture(rng: np.random.Generator, h: int, w: int, unit: float) -> np.ndarray:
    """Band-limited multi-scale colour noise plus a few shapes, ``(h, w, 3)`` float32 0..255."""
    tex = np.zeros((h, w, 3), np.float32)
    for period in (96, 48, 24, 12, 6):
        p = max(4.0, period * unit)
        gh, gw = int(math.ceil(h / p)) + 3, int(math.ceil(w / p)) + 3
        noise = rng.standard_normal((gh, gw, 3)).astype(np.float32)
        mix = (np.eye(3) * 0.6 + rng.uniform(0.0, 0.6, (3, 3))).astype(np.float32)
        noise = noise @ mix.T  # correlated colours
        big = cv2.resize(noise, (int(gw * p), int(gh * p)), interpolation=cv2.INTER_CUBIC)
        oy, ox = rng.integers(0, int(p), 2)
        tex += big[oy : oy + h, ox : ox + w] * rng.uniform(0.6, 1.0)
    tex -= tex.mean(axis=(0, 1))
    tex /= tex.std() + 1e-6
    base = rng.uniform(50, 205, 3).astype(np.float32)
    tex = base + tex * rng.uniform(28, 45)
    n_shapes = int(rng.integers(3, 9) * max(1.0, h * w / 256.0**2))
    for _ in range(n_shapes):  # crisp shapes give edges and corners
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(max(3, int(6 * unit)), max(8, int(40 * unit))))
        if rng.random() < 0.5:
            cv2.circle(tex, (cx, cy), r, color, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(tex, (cx - r, cy - r // 2), (cx + r, cy + r // 2), color, -1, cv2.LINE_AA)
    tex = cv2.GaussianBlur(tex, (0, 0), 0.8)
    return np.clip(tex, 0, 255)


def _shape_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random polygon / ellipse / union ("chair") filling most of a ``size x size`` canvas."""
    mask = np.zeros((size, size), np.uint8)
    c = size / 2.0
    kind = rng.integers(0, 3)
    if kind in (0, 2):
        n = int(rng.integers(5, 11))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.45, 0.95, n) * c * 0.9
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1).round().astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    if kind in (1, 2):
        axes = (int(rng.uniform(0.3, 0.85) * c), int(rng.uniform(0.3, 0.85) * c))
        cv2.ellipse(mask, (int(c), int(c)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    if not mask.any():
        cv2.circle(mask, (int(c), int(c)), int(c * 0.6), 1, -1)
    return mask.astype(np.float32)


def _affine(
    angle_deg: float, scale: float, tx: float, ty: float, cx: float, cy: float
) -> np.ndarray:
    """3x3: rotate by ``angle`` and scale about (cx, cy), then translate by (tx, ty)."""
    a = math.radians(angle_deg)
    lin = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    m = np.eye(3)
    m[:2, :2] = lin
    m[:2, 2] = np.array([cx, cy]) + np.array([tx, ty]) - lin @ np.array([cx, cy])
    return m


def _layers(rng: np.random.Generator, h: int, w: int, max_translation: float) -> list[_Layer]:
    unit = w / 512.0
    tmax = max_translation * unit
    margin = int(math.ceil(0.25 * max(h, w) + 2 * tmax))
    bg_place = np.eye(3)
    bg_place[:2, 2] = -margin + rng.uniform(0, 1, 2)  # sub-pixel: both frames are resampled
    bg_motion = _affine(
        rng.uniform(-2, 2),
        rng.uniform(0.97, 1.03),
        *rng.uniform(-0.6 * tmax, 0.6 * tmax, 2),
        (w - 1) / 2,
        (h - 1) / 2,
    )
    layers = [
        _Layer(_texture(rng, h + 2 * margin, w + 2 * margin, unit), None, bg_place, bg_motion)
    ]
    for _ in range(int(rng.integers(2, 6))):
        size = int(rng.uniform(0.22, 0.5) * min(h, w) * 1.4)
        size = max(size, 16)
        cx, cy = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.9 * h)
        place = _affine(rng.uniform(0, 360), 1.0, cx - size / 2, cy - size / 2, size / 2, size / 2)
        motion = _affine(
            rng.uniform(-6, 6), rng.uniform(0.93, 1.07), *rng.uniform(-tmax, tmax, 2), cx, cy
        )
        layers.append(
            _Layer(_texture(rng, size, size, unit), _shape_mask(rng, size), place, motion)
        )
    return layers


def render_pair(
    rng: np.random.Generator, height: int = 384, width: int = 512, max_translation: float = 20.0
) -> SyntheticPair:
    """Render one pair with exact forward flow (see the module docstring)."""
    layers = _layers(rng, height, width, max_translation)
    img1, lab1 = render_layers(layers, [ly.placement for ly in layers], height, width)
    img2, lab2 = render_layers(layers, [ly.motion @ ly.placement for ly in layers], height, width)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    flow = np.zeros((height, width, 2), np.float64)
    for i, layer in enumerate(layers):
        sel = lab1 == i
        m = layer.motion
        flow[sel, 0] = m[0, 0] * xs[sel] + m[0, 1] * ys[sel] + m[0, 2] - xs[sel]
        flow[sel, 1] = m[1, 0] * xs[sel] + m[1, 1] * ys[sel] + m[1, 2] - ys[sel]
    valid = _visible(flow, lab1, lab2)
    as_u8 = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    return SyntheticPair(as_u8(img1), as_u8(img2), flow.astype(np.float32), valid)


def _visible(flow: np.ndarray, lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """img1 pixels whose match lies in img2 on the same layer (all 4 bilinear neighbours)."""
    h, w = lab1.shape
    ys, xs = np.mgrid[0:h, 0:w]
    qx, qy = xs + flow[..., 0], ys + flow[..., 1]
    valid = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
    x0 = np.clip(np.floor(qx).astype(np.int64), 0, w - 1)
    y0 = np.clip(np.floor(qy).astype(np.int64), 0, h - 1)
    for dy in (0, 1):
        for dx in (0, 1):
            valid &= lab2[np.minimum(y0 + dy, h - 1), np.minimum(x0 + dx, w - 1)] == lab1
    return valid


def check_pair(
    img1: np.ndarray, img2: np.ndarray, flow: np.ndarray, valid: np.ndarray | None = None
) -> dict[str, float]:
    """Reconstruction errors of img1 from img2: warped by ``flow`` vs not warped.

    Returns mean absolute errors (grey levels, over ``valid`` pixels whose match is inside
    img2): ``warp_mae``, ``nowarp_mae``, their ``ratio`` and the ``valid_fraction`` used.
    """
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
    warped = cv2.remap(
        img2.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    mask = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    if valid is not None:
        mask &= valid
    return warp_errors(img1, img2, warped, mask, "check_pair")


def pair_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of pair ``index`` (0-based): independent of the number of pairs."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, index)))


def split_labels(num_pairs: int, val_fraction: float, seed: int) -> list[int]:
    """1 (train) / 2 (val) per pair: a random ``val_fraction`` of pairs (>= 1 each if possible)."""
    n_val = int(round(num_pairs * val_fraction))
    if val_fraction > 0 and num_pairs >= 2:
        n_val = min(max(n_val, 1), num_pairs - 1)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    labels = np.ones(num_pairs, np.int64)
    labels[rng.permutation(num_pairs)[:n_val]] = 2
    return labels.tolist()


class _PairWriter:
    """Picklable: render pair i and write its three files; return its self-check (or None)."""

    def __init__(
        self,
        data_dir: str,
        seed: int,
        height: int,
        width: int,
        max_translation: float,
        self_check: bool,
    ):
        self.data_dir, self.seed = data_dir, seed
        self.height, self.width, self.max_translation = height, width, max_translation
        self.self_check = self_check

    def __call__(self, index: int) -> dict[str, float] | None:
        pair = render_pair(
            pair_rng(self.seed, index), self.height, self.width, self.max_translation
        )
        stem = os.path.join(self.data_dir, f"{index + 1:05d}")
        write_ppm(stem + "_img1.ppm", pair.img1)
        write_ppm(stem + "_img2.ppm", pair.img2)
        write_flo(stem + "_flow.flo", pair.flow)
        return check_pair(pair.img1, pair.img2, pair.flow, pair.valid) if self.self_check else None


def make_flyingchairs(
    out_dir: str,
    num_pairs: int,
    seed: int = 0,
    height: int = 384,
    width: int = 512,
    val_fraction: float = 0.2,
    max_translation: float = 20.0,
    num_workers: int = 0,
    overwrite: bool = False,
    self_check: bool = False,
) -> dict[str, float]:
    """Write a synthetic FlyingChairs tree at ``out_dir``; same arguments -> identical bytes.

    If ``out_dir`` already holds a complete tree made with the same arguments, nothing is
    written (``summary["skipped"] == 1``); a different or incomplete tree needs ``overwrite``.
    Returns a summary (pairs, train/val counts and, with ``self_check``, the worst and mean
    warp/no-warp error ratio over all pairs).
    """
    if num_pairs <= 0:
        raise ValueError(f"num_pairs must be > 0, got {num_pairs}")
    if height < 32 or width < 32:
        raise ValueError(f"height and width must be >= 32, got {height}x{width}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    release = os.path.join(out_dir, RELEASE_DIR)
    data_dir = os.path.join(release, "data")
    readme_path = os.path.join(release, "README.txt")
    labels = split_labels(num_pairs, val_fraction, seed)
    readme = _readme(num_pairs, seed, height, width, val_fraction, max_translation, labels)
    summary: dict[str, float] = {
        "pairs": num_pairs,
        "train": labels.count(1),
        "val": labels.count(2),
        "skipped": 0,
    }
    if os.path.isdir(data_dir) and os.listdir(data_dir):
        if not overwrite:
            if _up_to_date(readme_path, readme, data_dir, num_pairs):
                summary["skipped"] = 1  # deterministic: the same arguments give the same bytes
                return summary
            raise FileExistsError(
                f"{data_dir} is not empty and was not completely generated with these "
                "parameters; pass overwrite=True / --overwrite to replace it"
            )
        shutil.rmtree(data_dir)
    if os.path.exists(readme_path):
        os.remove(readme_path)  # README.txt is written last: it marks a complete tree
    os.makedirs(data_dir, exist_ok=True)
    writer = _PairWriter(data_dir, seed, height, width, max_translation, self_check)
    desc = f"synthetic FlyingChairs -> {out_dir}"
    if num_workers <= 1:
        checks = [writer(i) for i in tqdm(range(num_pairs), desc=desc, unit="pair")]
    else:
        with ProcessMap(writer, range(num_pairs), num_workers, chunksize=4) as it:
            checks = list(tqdm(it, total=num_pairs, desc=desc, unit="pair"))
    with open(os.path.join(out_dir, SPLIT_FILE_NAME), "w", encoding="ascii") as f:
        f.write("".join(f"{lab}\n" for lab in labels))
    with open(readme_path, "w", encoding="ascii") as f:
        f.write(readme)
    if self_check:
        ratios = [c["ratio"] for c in checks]
        summary.update(
            max_ratio=max(ratios),
            mean_ratio=float(np.mean(ratios)),
            mean_warp_mae=float(np.mean([c["warp_mae"] for c in checks])),
        )
    return summary


def _up_to_date(readme_path: str, readme: str, data_dir: str, num_pairs: int) -> bool:
    """The tree is complete (README written last) and was made with the same parameters."""
    try:
        with open(readme_path, encoding="ascii") as f:
            same = f.read() == readme
    except (OSError, UnicodeDecodeError):
        return False
    return same and len(os.listdir(data_dir)) == 3 * num_pairs


def _readme(num_pairs, seed, height, width, val_fraction, max_translation, labels) -> str:
    return (
        "Synthetic FlyingChairs (made by hat.data.synthetic.flyingchairs; NOT the real dataset)\n"
        f"pairs: {num_pairs} ({labels.count(1)} train, {labels.count(2)} val), "
        f"size {width}x{height}, seed {seed}, val_fraction {val_fraction},\n"
        f"max_translation {max_translation} px at 512 px width\n"
        "Layout as the FlyingChairs release: data/%05d_img1.ppm, %05d_img2.ppm (binary P6 RGB),\n"
        "%05d_flow.flo (Middlebury), ../FlyingChairs_train_val.txt (1 = train, 2 = val).\n"
        "Content: a textured background and 2-5 textured foreground shapes, each under its own\n"
        "random affine motion; the flow is the exact forward motion of the surface seen in img1.\n"
    )
