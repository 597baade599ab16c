"""The MOT17 half split (CenterTrack's convention): frame ranges, renumbering, atomic output."""

from __future__ import annotations

import os

import pytest

from hat.data.errors import CorruptFileError
from hat.data.mot17_half_split import half_ranges, make_half_split
from hat.data.readers.mot17_files import read_det, read_gt, read_seqinfo
from hat.data.readers.mot17_layout import Mot17Layout
from hat.tools.gen_mot_data import main as gen_mot_data

SEQINFO = (
    "[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={n}\n"
    "imWidth=1920\nimHeight=1080\nimExt=.jpg\n\n"
)


def write(path, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="\n") as f:
        f.write(text)


def make_video(root, number: str, n: int, gt: str, det: str) -> None:
    """The three detector copies of one video; each image holds its frame number."""
    for detector in ("DPM", "FRCNN", "SDP"):
        seq = root / "train" / f"MOT17-{number}-{detector}"
        write(seq / "seqinfo.ini", SEQINFO.format(name=seq.name, n=n))
        os.makedirs(seq / "img1")
        for i in range(1, n + 1):
            (seq / "img1" / f"{i:06d}.jpg").write_bytes(f"frame {i}".encode())
        write(seq / "gt" / "gt.txt", gt)
        write(seq / "det" / "det.txt", det if detector == "FRCNN" else "")


# Track 1 spans the cut (frames 300..302), track 2 sits in the second half; text kept as is.
GT_600 = (
    "1,1,912,484,97,109,1,1,1\n300,1,912,484,97,109,1,1,0.5\n301,1,913,484,97,109,1,1,0.25\n"
    "302,1,914.5,484,97,109,1,1,0.125\n600,1,915,484,97,109,1,1,1\n"
    "500,2,10,20,30,40,0,7,0.86228\n"
)
DET_600 = (
    "1,-1,1359.1,413.27,120.26,362.77,0.99,-1,-1,-1\n301,-1,1.5,2.25,3,4,0.5,-1,-1,-1\n"
    "302,-1,5,6,7,8,0.25,-1,-1,-1\n"
)


@pytest.mark.parametrize(
    ("n", "train", "test"),
    [(600, 301, 299), (1050, 526, 524), (837, 419, 418), (525, 263, 262), (654, 328, 326),
     (900, 451, 449), (750, 376, 374), (3, 2, 1)],
)  # fmt: skip
def test_half_ranges_follow_centertrack(n, train, test):
    ranges = half_ranges(n)
    assert ranges["train"][0] == 0 and ranges["test"][1] == n - 1
    assert ranges["train"][1] + 1 == ranges["test"][0]
    assert ranges["train"][1] - ranges["train"][0] + 1 == train
    assert ranges["test"][1] - ranges["test"][0] + 1 == test
    with pytest.raises(ValueError, match="at least 3 frames"):
        half_ranges(2)


def test_split_of_600_frames_renumbers_images_gt_and_det(tmp_path):
    make_video(tmp_path, "02", 600, GT_600, DET_600)
    out = tmp_path / "split_data"
    results = make_half_split(tmp_path, out)
    assert [r.name for r in results] == ["MOT17-02-FRCNN"]
    assert results[0].frames == {"train": 301, "test": 299}
    assert sorted(os.listdir(out)) == ["test", "train"]
    assert os.listdir(out / "train") == ["MOT17-02-FRCNN"]  # one copy per video
    train, test = (Mot17Layout(out).sequences(s)[0] for s in ("train", "test"))
    assert read_seqinfo(train.seqinfo_path).seq_length == 301
    assert test.info.seq_length == 299 and test.info.name == "MOT17-02-FRCNN"
    assert len(train.image_paths()) == 301 and len(test.image_paths()) == 299
    # 0-based 301 (frame 302) is the first validation frame
    with open(test.image_path(1), "rb") as f:
        assert f.read() == b"frame 302"
    with open(train.image_path(301), "rb") as f:
        assert f.read() == b"frame 301"
    src_img = tmp_path / "train" / "MOT17-02-FRCNN" / "img1" / "000302.jpg"
    assert os.stat(test.image_path(1)).st_ino == os.stat(src_img).st_ino  # hard link
    assert results[0].linked == 600 and results[0].copied == 0
    with open(train.gt_path) as f:
        assert f.read() == (
            "1,1,912,484,97,109,1,1,1\n300,1,912,484,97,109,1,1,0.5\n301,1,913,484,97,109,1,1,0.25\n"
        )
    with open(test.gt_path) as f:
        assert f.read() == (
            "1,1,914.5,484,97,109,1,1,0.125\n299,1,915,484,97,109,1,1,1\n"
            "199,2,10,20,30,40,0,7,0.86228\n"
        )
    assert read_gt(test.gt_path).frames.tolist() == [1, 299, 199]
    assert read_det(train.det_path).frames.tolist() == [1, 301]
    with open(test.det_path) as f:
        assert f.read() == "1,-1,5,6,7,8,0.25,-1,-1,-1\n"
    assert results[0].gt_rows == {"train": 3, "test": 3}


def test_split_refuses_existing_output_and_overwrites_on_request(tmp_path, capsys):
    make_video(tmp_path, "05", 7, "1,1,1,2,3,4,1,1,1\n7,1,1,2,3,4,1,1,1\n", "")
    out = str(tmp_path / "split_data")
    assert gen_mot_data(["--src-data-path", str(tmp_path), "--out-dir", out]) == 0
    assert "MOT17-05-FRCNN: 7 frames -> train 4 (gt 1 rows), test 3 (gt 1 rows)" in (
        capsys.readouterr().out
    )
    assert gen_mot_data(["--src-data-path", str(tmp_path), "--out-dir", out]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    os.remove(os.path.join(out, "train", "MOT17-05-FRCNN", "img1", "000001.jpg"))
    argv = ["--src-data-path", str(tmp_path), "--out-dir", out, "--overwrite"]
    assert gen_mot_data(argv) == 0
    assert os.path.isfile(os.path.join(out, "train", "MOT17-05-FRCNN", "img1", "000001.jpg"))
    assert sorted(os.listdir(tmp_path)) == ["split_data", "train"]  # no temp folder left


def test_bad_input_leaves_nothing_half_written(tmp_path, capsys):
    make_video(tmp_path, "02", 6, "1,1,1,2,3,4,1,1,1\n", "")
    # the second video's gt has a malformed line: found while writing, after the first video
    make_video(tmp_path, "04", 6, "1,1,1,2,3,4,1,1,1\n2,1,1,2,3,4,1,1\n", "")
    out = tmp_path / "split_data"
    with pytest.raises(CorruptFileError, match=r"MOT17-04-FRCNN/gt/gt.txt, line 2: 8 comma"):
        make_half_split(tmp_path, out)
    assert sorted(os.listdir(tmp_path)) == ["train"]  # neither split_data nor a temp folder
    # a gt frame past seqLength
    write(tmp_path / "train" / "MOT17-04-FRCNN" / "gt" / "gt.txt", "7,1,1,2,3,4,1,1,1\n")
    with pytest.raises(
        CorruptFileError, match="line 1: frame 7 is past the sequence's seqLength=6"
    ):
        make_half_split(tmp_path, out)
    # an image missing: found before anything is written; the command says so
    os.remove(tmp_path / "train" / "MOT17-04-FRCNN" / "img1" / "000006.jpg")
    assert gen_mot_data(["--src-data-path", str(tmp_path), "--out-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "MOT17-04-FRCNN/img1: holds 5 *.jpg images but seqLength=6" in err
    assert f"nothing was written to {out}" in err
    assert sorted(os.listdir(tmp_path)) == ["train"]
