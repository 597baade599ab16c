"""A tiny hand-made MOT17-style tree for the packer, dataset and picture tests.

``make_mot17_tree(root)`` writes ``root/{train,test}/<seq>/{seqinfo.ini, img1/*.jpg, gt/gt.txt,
det/det.txt}`` with small images; every frame's image carries its frame number in its pixels
(so a test can tell frames apart after decoding) and the boxes are known numbers.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from hat.data.readers.mot17_files import SeqInfo, format_det_lines, format_gt_lines, seqinfo_text

H, W = 48, 64
#: split -> [(sequence name, number of frames)]
SEQUENCES = {
    "train": [("MOT17-02-FRCNN", 7), ("MOT17-04-FRCNN", 5)],
    "test": [("MOT17-02-FRCNN", 6), ("MOT17-04-FRCNN", 4)],
}


def frame_image(seq_index: int, frame: int) -> np.ndarray:
    """The RGB image written for ``frame`` (1-based) of sequence ``seq_index``: a flat colour
    coding both, plus a bright bar whose column is the frame number (left/right asymmetric, so a
    horizontal flip shows)."""
    img = np.full((H, W, 3), (20 + 40 * seq_index, 8 * frame, 90), np.uint8)
    img[:, 2 * frame : 2 * frame + 4] = 250
    return img


def track_rows(seq_index: int, num_frames: int) -> list[tuple]:
    """gt.txt rows ``(frame, id, left, top, width, height, consider, class, visibility)``:
    track 1 walks right (pedestrian), track 2 stands (pedestrian, visibility 0.5), track 3 is a
    static person (class 7, not considered), track 4 a pedestrian near the right edge with
    consider 0 on odd frames."""
    rows = []
    for f in range(1, num_frames + 1):
        rows.append((f, 1, 2.0 + 3 * f, 10.0 + seq_index, 8.0, 16.0, 1, 1, 1.0))
        rows.append((f, 2, 30.0, 20.0, 10.5, 20.25, 1, 1, 0.5))
        rows.append((f, 3, 5.0, 30.0, 6.0, 12.0, 0, 7, 1.0))
        rows.append((f, 4, 50.0, 4.0, 12.0, 14.0, int(f % 2 == 0), 1, 0.75))
    rows.sort(key=lambda r: (r[1], r[0]))  # grouped by id, then frame, as the release is
    return rows


def make_mot17_tree(root: str, sequences: dict | None = None) -> str:
    """Write the tree under ``root`` (returned) and return it."""
    for split, seqs in (sequences or SEQUENCES).items():
        for seq_index, (name, n) in enumerate(seqs):
            seq_dir = os.path.join(root, split, name)
            os.makedirs(os.path.join(seq_dir, "img1"))
            os.makedirs(os.path.join(seq_dir, "gt"))
            os.makedirs(os.path.join(seq_dir, "det"))
            info = SeqInfo(name, "img1", 30, n, W, H, ".jpg")
            with open(os.path.join(seq_dir, "seqinfo.ini"), "w", newline="\n") as f:
                f.write(seqinfo_text(info))
            for frame in range(1, n + 1):
                bgr = cv2.cvtColor(frame_image(seq_index, frame), cv2.COLOR_RGB2BGR)
                path = os.path.join(seq_dir, "img1", f"{frame:06d}.jpg")
                assert cv2.imwrite(path, bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
            a = np.asarray(track_rows(seq_index, n), np.float64)
            with open(os.path.join(seq_dir, "gt", "gt.txt"), "w") as f:
                f.write(format_gt_lines(a[:, 0], a[:, 1], a[:, 2:6], a[:, 6], a[:, 7], a[:, 8]))
            det = a[a[:, 7] == 1]
            with open(os.path.join(seq_dir, "det", "det.txt"), "w") as f:
                f.write(format_det_lines(det[:, 0], det[:, 2:6], np.full(len(det), 0.9)))
    return root
