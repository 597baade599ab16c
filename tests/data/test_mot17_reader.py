"""The raw MOT17 reader on real-format files: seqinfo.ini, gt.txt, det.txt, sequence layout."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hat.data.errors import CorruptFileError
from hat.data.readers.mot17_files import (
    SeqInfo,
    format_det_lines,
    format_gt_lines,
    read_det,
    read_gt,
    read_seqinfo,
    seqinfo_text,
)
from hat.data.readers.mot17_layout import Mot17Layout, parse_sequence_name

# Lines as in the release (MOT17-02-FRCNN): seqinfo.ini, gt.txt grouped by id then frame, det.txt.
SEQINFO_02 = (
    "[Sequence]\nname=MOT17-02-FRCNN\nimDir=img1\nframeRate=30\nseqLength=600\n"
    "imWidth=1920\nimHeight=1080\nimExt=.jpg\n\n"
)
GT_LINES = (
    "1,1,912,484,97,109,0,7,1\n"
    "2,1,912,484,97,109,0,7,1\n"
    "1,2,1338,418,167,379,1,1,0.86228\n"
    "2,2,1342,417,168,380,1,1,0.86704\n"
)
DET_LINES = (
    "1,-1,1359.1,413.27,120.26,362.77,2.3092,-1,-1,-1\n"
    "1,-1,571.03,402.13,104.56,315.68,1.5,-1,-1,-1\n"
)


def write(path, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="\n") as f:
        f.write(text)
    return str(path)


def test_seqinfo_reads_the_release_file_and_writes_it_back_identically(tmp_path):
    path = write(tmp_path / "seqinfo.ini", SEQINFO_02)
    info = read_seqinfo(path)
    assert info == SeqInfo("MOT17-02-FRCNN", "img1", 30, 600, 1920, 1080, ".jpg")
    assert seqinfo_text(info) == SEQINFO_02


@pytest.mark.parametrize(
    "key", ["name", "imDir", "frameRate", "seqLength", "imWidth", "imHeight", "imExt"]
)
def test_seqinfo_missing_key_names_file_and_key(tmp_path, key):
    text = "".join(
        line + "\n" for line in SEQINFO_02.splitlines() if not line.startswith(key + "=")
    )
    path = write(tmp_path / "seqinfo.ini", text)
    with pytest.raises(CorruptFileError, match=f"seqinfo.ini: missing key '{key}'"):
        read_seqinfo(path)


def test_seqinfo_bad_number_and_missing_section(tmp_path):
    path = write(
        tmp_path / "a" / "seqinfo.ini", SEQINFO_02.replace("seqLength=600", "seqLength=six")
    )
    with pytest.raises(CorruptFileError, match=r"a/seqinfo.ini: seqLength='six'.*positive integer"):
        read_seqinfo(path)
    path = write(tmp_path / "b" / "seqinfo.ini", "name=x\n")
    with pytest.raises(CorruptFileError, match=r"b/seqinfo.ini"):
        read_seqinfo(path)


def test_gt_parses_the_nine_columns(tmp_path):
    gt = read_gt(write(tmp_path / "gt.txt", GT_LINES))
    assert len(gt) == 4
    assert gt.frames.tolist() == [1, 2, 1, 2]
    assert gt.ids.tolist() == [1, 1, 2, 2]
    np.testing.assert_array_equal(gt.boxes[2], [1338, 418, 167, 379])
    np.testing.assert_array_equal(gt.boxes_xyxy()[2], [1338, 418, 1505, 797])
    assert gt.consider.tolist() == [0, 0, 1, 1]
    assert gt.classes.tolist() == [7, 7, 1, 1]
    np.testing.assert_allclose(gt.visibility, [1, 1, 0.86228, 0.86704], rtol=1e-6)
    assert gt.lines.tolist() == [1, 2, 3, 4]
    # what the writer gives for these rows is the same text
    text = format_gt_lines(gt.frames, gt.ids, gt.boxes, gt.consider, gt.classes, gt.visibility)
    assert text == GT_LINES


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3,2,1342,417,168,380,1,1", "8 comma-separated fields, expected 9"),
        ("3,2,1342,417,168,380,1,1,0.5,7", "10 comma-separated fields, expected 9"),
        ("3,2,1342,417,abc,380,1,1,0.5", "non-numeric field"),
        ("0,2,1342,417,168,380,1,1,0.5", "frame must be an integer >= 1"),
        ("3,2.5,1342,417,168,380,1,1,0.5", "id must be an integer"),
        ("3,2,1342,417,168,380,2,1,0.5", "consider flag must be 0 or 1"),
        ("3,2,1342,417,168,380,1,14,0.5", "class must be one of"),
        ("3,2,1342,417,168,380,1,1,1.5", r"visibility must be in \[0, 1\]"),
        ("3,2,1342,417,-1,380,1,1,0.5", "box width/height must be >= 0"),
    ],
)
def test_malformed_gt_line_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "MOT17-02-FRCNN" / "gt" / "gt.txt", GT_LINES + "\n" + line + "\n")
    with pytest.raises(CorruptFileError, match=f"MOT17-02-FRCNN/gt/gt.txt, line 6: {message}"):
        read_gt(path)


def test_det_parses_ten_columns_with_detector_scores(tmp_path):
    det = read_det(write(tmp_path / "det.txt", DET_LINES))
    assert det.frames.tolist() == [1, 1]
    np.testing.assert_allclose(det.boxes[0], [1359.1, 413.27, 120.26, 362.77], rtol=1e-6)
    np.testing.assert_allclose(det.scores, [2.3092, 1.5], rtol=1e-6)  # DPM: not in [0, 1]
    assert format_det_lines(det.frames, det.boxes, det.scores) == DET_LINES
    bad = write(tmp_path / "bad" / "det.txt", "1,-1,1359.1,413.27,120.26,362.77,2.3092\n")
    with pytest.raises(CorruptFileError, match=r"bad/det.txt, line 1: 7 comma-separated fields"):
        read_det(bad)


def test_empty_gt_and_det_give_no_rows(tmp_path):
    assert len(read_gt(write(tmp_path / "gt.txt", ""))) == 0
    assert read_det(write(tmp_path / "det.txt", "\n")).boxes.shape == (0, 4)


def make_sequence(root, split: str, name: str, n: int, images: int | None = None, gt=GT_LINES):
    seq = root / split / name
    write(seq / "seqinfo.ini", SEQINFO_02.replace("MOT17-02-FRCNN", name).replace("600", str(n)))
    os.makedirs(seq / "img1")
    for i in range(1, (n if images is None else images) + 1):
        (seq / "img1" / f"{i:06d}.jpg").write_bytes(b"jpg")
    write(seq / "det" / "det.txt", DET_LINES)
    if gt is not None:
        write(seq / "gt" / "gt.txt", gt)
    return seq


def test_layout_groups_detector_copies_and_finds_images(tmp_path):
    for det in ("DPM", "FRCNN", "SDP"):
        make_sequence(tmp_path, "train", f"MOT17-02-{det}", 4)
        make_sequence(tmp_path, "train", f"MOT17-04-{det}", 5)
        make_sequence(tmp_path, "test", f"MOT17-01-{det}", 3, gt=None)
    (tmp_path / "train" / "notes").mkdir()  # not a sequence: no seqinfo.ini
    layout = Mot17Layout(tmp_path)
    videos = layout.videos("train")
    assert [v.name for v in videos] == ["MOT17-02", "MOT17-04"]
    assert videos[0].detectors == ["DPM", "FRCNN", "SDP"]
    seq = videos[1].copy("FRCNN")
    assert seq.name == "MOT17-04-FRCNN" and seq.info.seq_length == 5 and seq.has_gt
    assert seq.image_paths()[-1] == str(
        tmp_path / "train" / "MOT17-04-FRCNN" / "img1" / "000005.jpg"
    )
    assert [s.name for s in layout.sequences("train", "SDP")] == ["MOT17-02-SDP", "MOT17-04-SDP"]
    test_seq = layout.videos("test")[0].copy("DPM")
    assert not test_seq.has_gt and len(test_seq.read_det()) == 2
    with pytest.raises(FileNotFoundError, match="MOT17-02: no XYZ copy"):
        videos[0].copy("XYZ")
    assert parse_sequence_name("MOT16-02") == ("MOT16-02", None)


def test_image_count_not_matching_seq_length_names_folder_and_both_numbers(tmp_path):
    seq = make_sequence(tmp_path, "train", "MOT17-09-FRCNN", 6, images=5)
    layout = Mot17Layout(tmp_path)
    with pytest.raises(
        CorruptFileError, match=r"MOT17-09-FRCNN/img1: holds 5 \*.jpg images but seqLength=6"
    ):
        layout.sequences("train")[0].image_paths()
    os.rename(seq / "img1" / "000003.jpg", seq / "img1" / "000007.jpg")
    (seq / "img1" / "000006.jpg").write_bytes(b"jpg")
    with pytest.raises(CorruptFileError, match="image 000003.jpg of frame 3 is missing"):
        layout.sequences("train")[0].check_images()


def test_detector_copies_must_agree(tmp_path):
    make_sequence(tmp_path, "train", "MOT17-02-DPM", 4)
    make_sequence(tmp_path, "train", "MOT17-02-FRCNN", 5)
    with pytest.raises(CorruptFileError, match="MOT17-02-FRCNN/seqinfo.ini disagrees with"):
        Mot17Layout(tmp_path).videos("train")
