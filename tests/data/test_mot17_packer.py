"""MOT17 packer: one record per frame equal to the raw files, test ground truth copied, bad input
refused with nothing written."""

import os
import shutil

import cv2
import numpy as np
import pytest
from mot17_fixture import SEQUENCES, H, W, make_mot17_tree

from hat.data.codecs.mot17 import SCHEMA, decode_frame, jpeg_size
from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbReader
from hat.data.packers.mot17 import Mot17Packer
from hat.tools.mot17_packer import main as packer_main


@pytest.fixture(scope="module")
def mot_root(tmp_path_factory) -> str:
    return make_mot17_tree(str(tmp_path_factory.mktemp("mot") / "split_data"))


@pytest.fixture(scope="module")
def packed(mot_root, tmp_path_factory) -> str:
    target = str(tmp_path_factory.mktemp("mot_packed"))
    for split in ("train", "test"):
        Mot17Packer(mot_root, target, split_name=split, num_workers=0)()
    return target


def _gt_rows(path: str) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def test_round_trip_equals_raw_files(mot_root, packed):
    for split in ("train", "test"):
        reader = LmdbReader(os.path.join(packed, f"{split}_lmdb"))
        expected_frames = [(name, f) for name, n in SEQUENCES[split] for f in range(1, n + 1)]
        assert len(reader) == len(expected_frames)
        for key, (name, frame) in enumerate(expected_frames):
            value = reader[key]
            seq_dir = os.path.join(mot_root, split, name)
            img_path = os.path.join(seq_dir, "img1", f"{frame:06d}.jpg")
            with open(img_path, "rb") as f:
                assert value["img"] == f.read()  # the JPEG as stored
            assert value["schema"] == SCHEMA and value["img_format"] == "jpg"
            assert (value["seq_name"], value["frame_id"]) == (name, frame)
            n = dict(SEQUENCES[split])[name]
            assert (value["height"], value["width"], value["frame_rate"]) == (H, W, 30)
            assert value["seq_length"] == n
            decoded = decode_frame(value, to_rgb=False)
            np.testing.assert_array_equal(decoded.img, cv2.imread(img_path))
            rows = _gt_rows(os.path.join(seq_dir, "gt", "gt.txt"))
            rows = rows[rows[:, 0] == frame]
            video_index = [s for s, _ in SEQUENCES[split]].index(name)
            xyxy = np.concatenate([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]], axis=1)
            np.testing.assert_array_equal(decoded.gt["gt_bboxes"], xyxy.astype(np.float32))
            np.testing.assert_array_equal(
                decoded.gt["gt_ids"], video_index * 1_000_000 + rows[:, 1].astype(np.int64)
            )
            np.testing.assert_array_equal(decoded.gt["gt_consider"], rows[:, 6].astype(np.uint8))
            np.testing.assert_array_equal(decoded.gt["gt_classes"], rows[:, 7].astype(np.int64))
            np.testing.assert_array_equal(
                decoded.gt["gt_visibility"], rows[:, 8].astype(np.float32)
            )
            assert decoded.gt["gt_bboxes"].dtype == np.float32 and len(rows) == 4


def test_box_numbers_known(packed):
    # frame 3 of the train split's first sequence: track 1 at left 2 + 3*3, top 10, 8 x 16
    decoded = decode_frame(LmdbReader(os.path.join(packed, "train_lmdb"))[2])
    assert decoded.frame_id == 3
    row = np.flatnonzero(decoded.gt["gt_ids"] == 1)[0]
    np.testing.assert_array_equal(decoded.gt["gt_bboxes"][row], [11, 10, 19, 26])
    # the second sequence's ids are offset by one video
    decoded = decode_frame(LmdbReader(os.path.join(packed, "train_lmdb"))[7])
    assert decoded.seq_name == "MOT17-04-FRCNN" and decoded.frame_id == 1
    assert sorted(decoded.gt["gt_ids"]) == [1_000_001, 1_000_002, 1_000_003, 1_000_004]


def test_test_gt_copied_for_the_test_split_only(mot_root, packed):
    assert not os.path.exists(os.path.join(packed, "train_gt"))
    names = sorted(os.listdir(os.path.join(packed, "test_gt")))
    assert names == [name for name, _ in SEQUENCES["test"]]
    for name in names:
        for rel in ("gt/gt.txt", "seqinfo.ini"):
            with open(os.path.join(mot_root, "test", name, rel), "rb") as a:
                with open(os.path.join(packed, "test_gt", name, rel), "rb") as b:
                    assert a.read() == b.read()


def test_reader_processes_give_the_same_lmdb(mot_root, packed, tmp_path):
    Mot17Packer(mot_root, str(tmp_path), split_name="test", num_workers=2)()
    ours, ref = (LmdbReader(os.path.join(d, "test_lmdb")) for d in (str(tmp_path), packed))
    assert len(ours) == len(ref) == 10
    assert all(ours.get_bytes(i) == ref.get_bytes(i) for i in range(len(ref)))


def test_cli_writes_the_seed_layout(mot_root, tmp_path, capsys):
    target = str(tmp_path / "mot17")
    src = ["--src-data-dir", mot_root, "--pack-type", "lmdb", "--target-data-dir", target]
    assert packer_main([*src, "--split-name", "train", "--num-workers", "0"]) == 0
    assert packer_main([*src, "--split-name", "test", "--num-workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "packed 12 train frames" in out and "packed 10 test frames" in out
    assert "copied the ground truth of 2 sequences" in out
    assert sorted(os.listdir(target)) == ["test_gt", "test_lmdb", "train_lmdb"]
    # a second pack refuses to overwrite, and says so
    assert packer_main([*src, "--split-name", "test", "--num-workers", "0"]) == 1
    assert "already exists" in capsys.readouterr().err
    # --overwrite replaces both, leaving nothing beside them
    os.remove(os.path.join(target, "test_gt", "MOT17-02-FRCNN", "seqinfo.ini"))
    assert packer_main([*src, "--split-name", "test", "--num-workers", "0", "--overwrite"]) == 0
    assert sorted(os.listdir(target)) == ["test_gt", "test_lmdb", "train_lmdb"]
    assert os.path.isfile(os.path.join(target, "test_gt", "MOT17-02-FRCNN", "seqinfo.ini"))


def _damaged_copy(mot_root, tmp_path) -> str:
    root = str(tmp_path / "split_data")
    shutil.copytree(mot_root, root)
    return root


def _nothing_written(target: str) -> None:
    assert not os.path.exists(target) or os.listdir(target) == []


def test_missing_frame_names_it_and_writes_nothing(mot_root, tmp_path, capsys):
    root = _damaged_copy(mot_root, tmp_path)
    img_dir = os.path.join(root, "test", "MOT17-04-FRCNN", "img1")
    os.rename(os.path.join(img_dir, "000003.jpg"), os.path.join(img_dir, "000099.jpg"))
    target = str(tmp_path / "out")
    argv = ["--src-data-dir", root, "--split-name", "test", "--target-data-dir", target]
    assert packer_main([*argv, "--num-workers", "0"]) == 1
    err = capsys.readouterr().err
    assert "MOT17-04-FRCNN/img1: image 000003.jpg of frame 3 is missing" in err
    assert "nothing was written" in err
    _nothing_written(target)
    # one image fewer than seqLength: the folder, both counts and seqinfo.ini are named
    os.remove(os.path.join(img_dir, "000099.jpg"))
    assert packer_main([*argv, "--num-workers", "0"]) == 1
    err = capsys.readouterr().err
    assert "MOT17-04-FRCNN/img1: holds 3 *.jpg images but seqLength=4" in err
    _nothing_written(target)


def test_unreadable_frame_during_pack_leaves_neither_lmdb_nor_test_gt(mot_root, tmp_path):
    root = _damaged_copy(mot_root, tmp_path)
    bad = os.path.join(root, "test", "MOT17-04-FRCNN", "img1", "000002.jpg")
    with open(bad, "wb") as f:
        f.write(b"not a jpeg at all")
    target = str(tmp_path / "out")
    packer = Mot17Packer(root, target, split_name="test", num_workers=0)
    with pytest.raises(CorruptFileError, match=r"000002\.jpg: not a JPEG"):
        packer()
    assert os.listdir(target) == []  # neither test_lmdb, test_gt nor their temporaries


def test_image_size_must_match_seqinfo(mot_root, tmp_path):
    root = _damaged_copy(mot_root, tmp_path)
    bad = os.path.join(root, "train", "MOT17-02-FRCNN", "img1", "000005.jpg")
    cv2.imwrite(bad, np.zeros((H, W + 8, 3), np.uint8))
    with pytest.raises(CorruptFileError, match=r"000005\.jpg: the image is 72x48 but seqinfo"):
        Mot17Packer(root, str(tmp_path / "out"), split_name="train", num_workers=0)()


def test_gt_row_past_the_sequence_names_file_and_line(mot_root, tmp_path):
    root = _damaged_copy(mot_root, tmp_path)
    gt = os.path.join(root, "train", "MOT17-04-FRCNN", "gt", "gt.txt")
    with open(gt, "a") as f:
        f.write("6,9,1,1,5,5,1,1,1\n")  # the sequence has 5 frames
    with pytest.raises(CorruptFileError, match=r"gt\.txt, line 21: frame 6 is past"):
        Mot17Packer(root, str(tmp_path / "out"), split_name="train", num_workers=0)


def test_jpeg_size_reads_the_header():
    ok, buf = cv2.imencode(".jpg", np.zeros((37, 53, 3), np.uint8))
    assert ok and jpeg_size(buf.tobytes()) == (37, 53)
    assert jpeg_size(b"\x89PNG\r\n") is None and jpeg_size(buf.tobytes()[:20]) is None


def test_synthetic_release_split_pack_and_read(tmp_path):
    """The path users run: synthetic MOT17 -> half split -> packed halves -> clips."""
    from hat.data.datasets.mot17 import Mot17Dataset
    from hat.data.mot17_half_split import make_half_split
    from hat.data.synthetic.mot17 import make_mot17

    root = str(tmp_path / "MOT17")
    make_mot17(root, num_seqs=2, seed=0, frames=8, image_scale=0.05, num_test_seqs=1)
    split_dir = os.path.join(root, "split_data")
    make_half_split(root, split_dir)
    target = str(tmp_path / "mot17")
    for split in ("train", "test"):
        Mot17Packer(split_dir, target, split_name=split, num_workers=0)()
    train = Mot17Dataset(os.path.join(target, "train_lmdb"), sampler_lengths=[3], sample_interval=2)
    assert [s.name for s in train.sequences] == ["MOT17-02-FRCNN", "MOT17-04-FRCNN"]
    assert [s.length for s in train.sequences] == [5, 5]  # frames [0, 8 // 2] of 8
    clip = train[5]["frames"]
    assert [(f["seq_name"], f["frame_id"]) for f in clip] == [
        ("MOT17-04-FRCNN", k) for k in (1, 3, 5)
    ]
    assert all((f["gt_ids"] // 1_000_000 == 1).all() for f in clip)
    test = Mot17Dataset(os.path.join(target, "test_lmdb"))
    assert len(test) == 6 and test[0]["frames"][0]["frame_id"] == 1
    for name in ("MOT17-02-FRCNN", "MOT17-04-FRCNN"):
        with open(os.path.join(split_dir, "test", name, "gt", "gt.txt"), "rb") as a:
            with open(os.path.join(target, "test_gt", name, "gt", "gt.txt"), "rb") as b:
                assert a.read() == b.read()
    # the release's test split has no gt: frames packed without boxes, no test_gt
    release = str(tmp_path / "release")
    Mot17Packer(root, release, split_name="test", num_workers=0)()
    assert sorted(os.listdir(release)) == ["test_lmdb"]
    frame = Mot17Dataset(os.path.join(release, "test_lmdb"))[0]["frames"][0]
    assert frame["seq_name"] == "MOT17-01-FRCNN" and frame["gt_bboxes"].shape == (0, 4)
