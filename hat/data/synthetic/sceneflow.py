"""A synthetic SceneFlow (finalpass) tree: layered planar scenes with exact disparity.

Scenes come from :mod:`.sceneflow_scenes` (one recipe per subset) rendered by
:mod:`.stereo_scene`. Written layout (as the real release; left disparity only)::

    <out>/FlyingThings3D/frames_finalpass/{TRAIN,TEST}/{A,B,C}/NNNN/{left,right}/0006..0015.png
    <out>/FlyingThings3D/disparity/{TRAIN,TEST}/{A,B,C}/NNNN/left/0006..0015.pfm
    <out>/Driving/{frames_finalpass,disparity}/{15mm,35mm}_focallength/scene_{backwards,forwards}/
        {fast,slow}/{left,right}/NNNN.{png,pfm}
    <out>/Monkaa/{frames_finalpass,disparity}/<scene>/{left,right}/NNNN.{png,pfm}
    <out>/SceneFlow_finalpass_train.txt    # FlyingThings3D TRAIN, Driving, Monkaa
    <out>/SceneFlow_finalpass_test.txt     # FlyingThings3D TEST
    <out>/README.txt                       # parameters; written last, marks a complete tree

The train split is shared among the subsets as in the real lists (about 63 % FlyingThings3D,
12 % Driving, 25 % Monkaa). Sample ``j`` of a subset and split depends only on
``(seed, subset, split, j)``, so the same arguments give identical bytes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from hat.data.readers.pfm import write_pfm
from hat.data.readers.sceneflow_layout import SUBSETS, list_file_name
from hat.data.synthetic.sceneflow_scenes import build_scene
from hat.data.synthetic.stereo_scene import StereoPair, check_stereo, render_stereo
from hat.utils.process_map import ProcessMap

__all__ = ["SyntheticSample", "make_sceneflow", "render_sample", "sample_plan"]

TRAIN_SHARES = {"FlyingThings3D": 0.63, "Driving": 0.12, "Monkaa": 0.25}
DRIVING_DIRS = [
    f"{focal}_focallength/scene_{direction}/{speed}"
    for focal in ("15mm", "35mm")
    for direction in ("backwards", "forwards")
    for speed in ("fast", "slow")
]
MONKAA_SCENES = [
    "a_rain_of_stones_x2",
    "eating_camera2_x2",
    "family_x2",
    "flower_storm_x2",
    "funnyworld_x2",
    "lonetree_x2",
    "top_view_x2",
    "treeflight_x2",
]
README = "README.txt"


@dataclass(frozen=True)
class SyntheticSample:
    """Where sample ``index`` of ``subset`` / ``split`` goes: paths relative to the root."""

    subset: str
    split: str
    index: int
    left: str
    right: str
    disp: str

    def line(self) -> str:
        return f"{self.left} {self.right} {self.disp}\n"


def _sample_dir_and_frame(subset: str, split: str, j: int) -> tuple[str, str]:
    """``(scene folder, frame stem)`` of sample ``j``, following the real naming."""
    if subset == "FlyingThings3D":
        seq = j // 10
        folder = f"{split.upper()}/{'ABC'[seq % 3]}/{seq // 3:04d}"
        return folder, f"{6 + j % 10:04d}"
    if subset == "Driving":
        return DRIVING_DIRS[j % len(DRIVING_DIRS)], f"{1 + j // len(DRIVING_DIRS):04d}"
    return MONKAA_SCENES[j % len(MONKAA_SCENES)], f"{j // len(MONKAA_SCENES):04d}"


def _sample(subset: str, split: str, j: int) -> SyntheticSample:
    folder, stem = _sample_dir_and_frame(subset, split, j)
    frames, disp = f"{subset}/frames_finalpass/{folder}", f"{subset}/disparity/{folder}"
    return SyntheticSample(
        subset,
        split,
        j,
        f"{frames}/left/{stem}.png",
        f"{frames}/right/{stem}.png",
        f"{disp}/left/{stem}.pfm",
    )


def _train_counts(num_train: int) -> dict[str, int]:
    """Split ``num_train`` among the subsets by :data:`TRAIN_SHARES` (each >= 1 if possible)."""
    counts = {s: int(num_train * TRAIN_SHARES[s]) for s in SUBSETS}
    if num_train >= len(SUBSETS):
        for s in SUBSETS:
            counts[s] = max(counts[s], 1)
    counts["FlyingThings3D"] += num_train - sum(counts.values())
    return counts


def sample_plan(num_train: int, num_test: int) -> dict[str, list[SyntheticSample]]:
    """The samples of each split, in list-file order."""
    train = [_sample(s, "train", j) for s, n in _train_counts(num_train).items() for j in range(n)]
    test = [_sample("FlyingThings3D", "test", j) for j in range(num_test)]
    return {"train": train, "test": test}


def _rng(seed: int, sample: SyntheticSample) -> np.random.Generator:
    key = (SUBSETS.index(sample.subset), ("train", "test").index(sample.split), sample.index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def render_sample(
    seed: int, sample: SyntheticSample, height: int, width: int, max_disp: float
) -> StereoPair:
    """Render one planned sample (``max_disp`` in px at the rendered width)."""
    rng = _rng(seed, sample)
    return render_stereo(
        rng, build_scene(rng, sample.subset, height, width, max_disp), height, width
    )


class _SampleWriter:
    """Picklable: render a sample, write its PNGs and PFM; return its self-check (or None)."""

    def __init__(
        self, root: str, seed: int, height: int, width: int, max_disp: float, self_check: bool
    ) -> None:
        self.root, self.seed, self.self_check = root, seed, self_check
        self.height, self.width, self.max_disp = height, width, max_disp

    def __call__(self, sample: SyntheticSample) -> dict[str, float] | None:
        pair = render_sample(self.seed, sample, self.height, self.width, self.max_disp)
        for rel, img in ((sample.left, pair.left), (sample.right, pair.right)):
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not cv2.imwrite(path, np.ascontiguousarray(img[..., ::-1])):
                raise OSError(f"could not write {path}")
        write_pfm(os.path.join(self.root, sample.disp), pair.disp)
        if not self.self_check:
            return None
        return check_stereo(pair.left, pair.right, pair.disp, pair.valid)


def make_sceneflow(
    out_dir: str,
    num_train: int,
    num_test: int,
    seed: int = 0,
    height: int = 320,
    width: int = 576,
    max_disp: float = 64.0,
    num_workers: int = 0,
    overwrite: bool = False,
    self_check: bool = False,
) -> dict[str, float]:
    """Write a synthetic SceneFlow tree at ``out_dir``; same arguments -> identical bytes.

    ``max_disp`` is in pixels at the rendered size (none exceeds ``min(1.2 * max_disp, 190)``).
    If ``out_dir`` already holds a complete tree made with the same arguments, nothing is
    written (``summary["skipped"] == 1``); a different or incomplete tree needs ``overwrite``.
    Returns a summary: sample counts and, with ``self_check``, the worst and mean ratio of
    warped to unwarped reconstruction error over all samples.
    """
    if num_train < 0 or num_test < 0 or num_train + num_test == 0:
        raise ValueError(
            f"need num_train, num_test >= 0 and some samples, got {num_train}, {num_test}"
        )
    if height < 64 or width < 64:
        raise ValueError(f"height and width must be >= 64, got {height}x{width}")
    if not 0 < max_disp <= 160:
        raise ValueError(f"max_disp must be in (0, 160] px, got {max_disp}")
    plan = sample_plan(num_train, num_test)
    readme = _readme(num_train, num_test, seed, height, width, max_disp, plan)
    summary: dict[str, float] = {
        "train": len(plan["train"]),
        "test": len(plan["test"]),
        "skipped": 0,
    }
    if _prepare(out_dir, readme, overwrite):
        summary["skipped"] = 1
        return summary
    writer = _SampleWriter(out_dir, seed, height, width, max_disp, self_check)
    samples = plan["train"] + plan["test"]
    desc = f"synthetic SceneFlow -> {out_dir}"
    if num_workers <= 1:
        checks = [writer(s) for s in tqdm(samples, desc=desc, unit="pair")]
    else:
        with ProcessMap(writer, samples, num_workers, chunksize=2) as it:
            checks = list(tqdm(it, total=len(samples), desc=desc, unit="pair"))
    for split, items in plan.items():
        with open(os.path.join(out_dir, list_file_name(split)), "w", encoding="ascii") as f:
            f.write("".join(s.line() for s in items))
    with open(os.path.join(out_dir, README), "w", encoding="ascii") as f:
        f.write(readme)
    if self_check:
        ratios = [c["ratio"] for c in checks]
        summary.update(
            max_ratio=max(ratios),
            mean_ratio=float(np.mean(ratios)),
            mean_warp_mae=float(np.mean([c["warp_mae"] for c in checks])),
        )
    return summary


def _prepare(out_dir: str, readme: str, overwrite: bool) -> bool:
    """True if ``out_dir`` already holds this exact tree; else clear what a previous run wrote."""
    ours = [README, *SUBSETS, list_file_name("train"), list_file_name("test")]
    present = [n for n in ours if os.path.lexists(os.path.join(out_dir, n))]
    if present and not overwrite:
        try:
            with open(os.path.join(out_dir, README), encoding="ascii") as f:
                if f.read() == readme:
                    return True
        except (OSError, UnicodeDecodeError):
            pass
        raise FileExistsError(
            f"{out_dir} holds {', '.join(present)} not completely generated with these "
            "parameters; pass overwrite=True / --overwrite to replace them"
        )
    for name in present:  # README first: an interrupted clean-up never looks complete
        path = os.path.join(out_dir, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(out_dir, exist_ok=True)
    return False


def _readme(num_train, num_test, seed, height, width, max_disp, plan) -> str:
    counts = {s: sum(1 for p in plan["train"] if p.subset == s) for s in SUBSETS}
    return (
        "Synthetic SceneFlow (made by hat.data.synthetic.sceneflow; NOT the real dataset)\n"
        f"train {num_train} ({', '.join(f'{s} {n}' for s, n in counts.items())}), "
        f"test {num_test} (FlyingThings3D TEST)\n"
        f"size {width}x{height}, max_disp {max_disp} px, seed {seed}\n"
        "Layout as the finalpass release: frames_finalpass/.../{left,right}/NNNN.png (RGB),\n"
        "disparity/.../left/NNNN.pfm (Pf, little-endian, rows bottom to top), list files\n"
        "SceneFlow_finalpass_{train,test}.txt ('left right disp' relative paths).\n"
        "Content: textured planar layers (slanted backgrounds, fronto-parallel and slanted\n"
        "objects) rendered for both cameras; the disparity is exact: left pixel x matches right\n"
        "pixel x - d.\n"
    )
