"""A synthetic MOT17, written in the release's exact layout (see
:mod:`hat.data.readers.mot17_layout`)::

    <out>/train/MOT17-{02,04,05,09,10,11,13}-{DPM,FRCNN,SDP}/
        seqinfo.ini, img1/000001.jpg.., det/det.txt, gt/gt.txt
    <out>/test/MOT17-{01,03,06,07,08,12,14}-{DPM,FRCNN,SDP}/   (no gt, as the release)
    <out>/README_synthetic.txt                                (written last: a complete tree)

Each video keeps the real one's size (1920x1080, or 640x480 for 05 and 06), frame rate (30,
14 or 25), length and moving/fixed camera (:data:`MOT17_SEQUENCES`); ``image_scale`` shrinks
the images (tests) and ``frames`` shortens the videos. The scenes are described in
:mod:`hat.data.synthetic.mot17_scene`, the detectors' noise in
:mod:`hat.data.synthetic.mot17_detections`. The three detector copies of a video share the
images (hard links where possible, as the release shares content), ``gt.txt`` (rows grouped by
id, then frame, as the release) and ``seqinfo.ini`` values; ``det.txt`` differs.

Same arguments -> byte-identical files. The tree is built in a temporary folder inside
``<out>`` and moved into place at the end; a complete tree with the same arguments is left
as is, any other existing ``train/``/``test/`` needs ``overwrite`` (other folders of ``<out>``,
e.g. a ``split_data`` made from an older tree, are not touched).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from hat.data.mot17_half_split import remove_stale_temp_dirs
from hat.data.readers.mot17_files import SeqInfo, format_det_lines, format_gt_lines, seqinfo_text
from hat.data.readers.mot17_layout import DETECTORS, MOT17_TEST_VIDEOS, MOT17_TRAIN_VIDEOS
from hat.data.synthetic.mot17_detections import DETECTOR_MODELS, simulate_detections
from hat.data.synthetic.mot17_scene import MOT17_SEQUENCES, SequenceScene, SequenceSpec
from hat.utils.process_map import ProcessMap

__all__ = ["README_NAME", "make_mot17", "scaled_size", "select_sequences"]

README_NAME = "README_synthetic.txt"
JPEG_QUALITY = 90
IMAGE_COPY = "FRCNN"  # the copy whose images are written; the others link to them


def scaled_size(spec: SequenceSpec, image_scale: float) -> tuple[int, int]:
    """``(width, height)`` of ``spec``'s images at ``image_scale``."""
    return max(1, round(spec.width * image_scale)), max(1, round(spec.height * image_scale))


def select_sequences(num_seqs: int, num_test_seqs: int) -> list[SequenceSpec]:
    """The first ``num_seqs`` train and ``num_test_seqs`` test videos, in the release's order."""
    by_number = {s.number: s for s in MOT17_SEQUENCES}
    for count, videos, split in ((num_seqs, MOT17_TRAIN_VIDEOS, "train"),
                                 (num_test_seqs, MOT17_TEST_VIDEOS, "test")):  # fmt: skip
        if not 0 <= count <= len(videos):
            raise ValueError(
                f"number of {split} sequences must be in 0..{len(videos)}, got {count}"
            )
    if num_seqs + num_test_seqs == 0:
        raise ValueError("nothing to generate: --num-seqs and --num-test-seqs are both 0")
    train = [by_number[n] for n in MOT17_TRAIN_VIDEOS[:num_seqs]]
    return train + [by_number[n] for n in MOT17_TEST_VIDEOS[:num_test_seqs]]


@dataclass(frozen=True)
class _Job:
    spec: SequenceSpec
    root: str  # the temporary tree
    frames: int
    image_scale: float
    seed: int


def _write_sequence(job: _Job) -> tuple[str, int, int]:
    """Render one video into its three detector copies; ``(video, frames, gt rows)``."""
    spec = job.spec
    width, height = scaled_size(spec, job.image_scale)
    rng = np.random.default_rng([job.seed, int(spec.number), 0])
    det_rngs = {d: np.random.default_rng([job.seed, int(spec.number), i + 1])
                for i, d in enumerate(DETECTORS)}  # fmt: skip
    scene = SequenceScene(spec, width, height, job.frames, rng)
    dirs = {d: os.path.join(job.root, spec.split, f"MOT17-{spec.number}-{d}") for d in DETECTORS}
    for path in dirs.values():
        os.makedirs(os.path.join(path, "img1"))
        info = SeqInfo(os.path.basename(path), "img1", spec.fps, job.frames, width, height, ".jpg")
        with open(os.path.join(path, "seqinfo.ini"), "w", encoding="ascii", newline="\n") as f:
            f.write(seqinfo_text(info))
    gt_rows: list[tuple[int, int, tuple[int, int, int, int], int, int, float]] = []
    det_rows: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {d: [] for d in DETECTORS}
    for t in range(job.frames):
        image, _, objects = scene.render(t)
        name = f"{t + 1:06d}.jpg"
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {spec.number} frame {t + 1}")
        first = os.path.join(dirs[IMAGE_COPY], "img1", name)
        with open(first, "wb") as f:
            f.write(data.tobytes())
        for d in DETECTORS:
            if d != IMAGE_COPY:
                _link_or_copy(first, os.path.join(dirs[d], "img1", name))
        for o in objects:
            gt_rows.append((t + 1, o.track_id, o.box, o.consider, o.cls, o.visibility))
        for d in DETECTORS:
            boxes, scores = simulate_detections(
                DETECTOR_MODELS[d], objects, width, height, det_rngs[d]
            )
            det_rows[d].append((t + 1, boxes, scores))
    gt_rows.sort(key=lambda r: (r[1], r[0]))  # grouped by id, then frame, as the release
    gt_text = format_gt_lines(
        np.array([r[0] for r in gt_rows], np.int64),
        np.array([r[1] for r in gt_rows], np.int64),
        np.array([r[2] for r in gt_rows], np.float64).reshape(-1, 4),
        np.array([r[3] for r in gt_rows], np.int64),
        np.array([r[4] for r in gt_rows], np.int64),
        np.array([r[5] for r in gt_rows], np.float64),
    )
    for d, path in dirs.items():
        if spec.split == "train":
            _write_text(os.path.join(path, "gt", "gt.txt"), gt_text)
        rows = det_rows[d]
        frames = np.concatenate([np.full(len(s), t, np.int64) for t, _, s in rows])
        boxes = np.concatenate([b for _, b, _ in rows]).reshape(-1, 4)
        scores = np.concatenate([s for _, _, s in rows])
        _write_text(os.path.join(path, "det", "det.txt"), format_det_lines(frames, boxes, scores))
    return f"MOT17-{spec.number}", job.frames, len(gt_rows)


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _readme(specs: list[SequenceSpec], frames: int | None, image_scale: float, seed: int) -> str:
    length = "as the release" if frames is None else frames
    lines = [
        "Synthetic MOT17 (made by hat.data.synthetic.mot17; NOT the real dataset)",
        f"seed {seed}, image scale {image_scale}, frames {length}",
        "Layout as the release: {train,test}/MOT17-XX-{DPM,FRCNN,SDP}/{img1,det,gt,seqinfo.ini}",
        "(test without gt). Sequences:",
    ]
    for s in specs:
        w, h = scaled_size(s, image_scale)
        n = s.length if frames is None else frames
        cam = "moving" if s.moving else "static"
        lines.append(f"  {s.split}/MOT17-{s.number}: {w}x{h}, {s.fps} fps, {n} frames, {cam}")
    return "\n".join(lines) + "\n"


def make_mot17(
    out_dir: str | os.PathLike,
    num_seqs: int,
    seed: int = 0,
    frames: int | None = None,
    image_scale: float = 1.0,
    num_test_seqs: int | None = None,
    num_workers: int = 0,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write a synthetic MOT17 at ``out_dir``: ``num_seqs`` train videos and ``num_test_seqs``
    (default: as many) test videos, each ``frames`` long (default: the real length).

    Returns ``{"train": videos, "test": videos, "frames": images per copy, "gt_rows": n,
    "skipped": 0 or 1}``.
    """
    out = os.path.abspath(os.fspath(out_dir))
    num_test_seqs = num_seqs if num_test_seqs is None else num_test_seqs
    specs = select_sequences(num_seqs, num_test_seqs)
    if frames is not None and frames < 3:
        raise ValueError(f"frames must be >= 3 (the half split needs 3), got {frames}")
    if not 0.02 <= image_scale <= 1.0:
        raise ValueError(f"image_scale must be in [0.02, 1], got {image_scale}")
    readme_path = os.path.join(out, README_NAME)
    readme = _readme(specs, frames, image_scale, seed)
    lengths = [s.length if frames is None else frames for s in specs]
    summary = {
        "train": sum(s.split == "train" for s in specs),
        "test": sum(s.split == "test" for s in specs),
        "frames": sum(lengths),
        "gt_rows": 0,
        "skipped": 0,
    }
    splits = [os.path.join(out, s) for s in ("train", "test")]
    if any(os.path.exists(p) for p in splits) and not overwrite:
        if _read(readme_path) == readme:
            summary["skipped"] = 1
            return summary
        raise FileExistsError(
            f"{out} already holds train/ or test/ not completely generated with these "
            "parameters; pass overwrite=True / --overwrite to replace them"
        )
    os.makedirs(out, exist_ok=True)
    remove_stale_temp_dirs(out, "synthetic")  # left by a killed run
    tmp = os.path.join(out, f".synthetic.tmp-{os.getpid()}")
    os.makedirs(tmp)
    try:
        jobs = [_Job(s, tmp, n, image_scale, seed) for s, n in zip(specs, lengths, strict=True)]
        desc = f"synthetic MOT17 -> {out}"
        if num_workers <= 1:
            results = [_write_sequence(j) for j in tqdm(jobs, desc=desc, unit="seq")]
        else:
            with ProcessMap(_write_sequence, jobs, num_workers) as written:
                results = list(tqdm(written, total=len(jobs), desc=desc))
        summary["gt_rows"] = sum(r[2] for r in results)
        if os.path.exists(readme_path):
            os.remove(readme_path)  # written last: it marks a complete tree
        for split in ("train", "test"):
            dst = os.path.join(out, split)
            if os.path.exists(dst):
                os.rename(dst, os.path.join(tmp, f"old-{split}"))
            if os.path.isdir(os.path.join(tmp, split)):
                os.rename(os.path.join(tmp, split), dst)
        _write_text(readme_path, readme)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None
