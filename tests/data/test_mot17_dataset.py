"""Mot17Dataset clips: lengths by epoch, frame intervals, no clip across sequences; the epoch
through DistSetEpochDatasetSampler (real gloo ranks) and DataLoader workers; Mot17FromImage."""

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as tmp
from mot17_fixture import SEQUENCES, make_mot17_tree
from torch.utils.data import DataLoader

from hat.data.collates import collate_mot_clips
from hat.data.dataloader import set_loader_epoch
from hat.data.datasets.mot17 import Mot17Dataset, Mot17FromImage
from hat.data.epoch_sampler import DistSetEpochDatasetSampler
from hat.data.errors import CorruptFileError
from hat.data.pack_type.lmdb import LmdbReader, LmdbWriter
from hat.data.packers.mot17 import Mot17Packer
from hat.data.sample_seeding import seeded_rngs
from hat.data.samplers import DistSetEpochDatasetSampler as ExportedSampler
from hat.registry import build_from_registry

MOTR = dict(sampler_lengths=[2, 3, 4, 5], sampler_steps=[1, 2, 3])


@pytest.fixture(scope="module")
def mot_root(tmp_path_factory) -> str:
    return make_mot17_tree(str(tmp_path_factory.mktemp("mot") / "split_data"))


@pytest.fixture(scope="module")
def lmdbs(mot_root, tmp_path_factory) -> str:
    target = str(tmp_path_factory.mktemp("mot_packed"))
    for split in ("train", "test"):
        Mot17Packer(mot_root, target, split_name=split, num_workers=0)()
    return target


def _frames(clip) -> list[tuple[str, int]]:
    return [(f["seq_name"], f["frame_id"]) for f in clip["frames"]]


def test_sequences_indexed_by_frame(lmdbs):
    ds = Mot17Dataset(os.path.join(lmdbs, "train_lmdb"))
    assert len(ds) == 12
    assert [(s.name, s.start, s.length) for s in ds.sequences] == [
        ("MOT17-02-FRCNN", 0, 7),
        ("MOT17-04-FRCNN", 7, 5),
    ]


def test_clip_length_switches_at_sampler_steps(lmdbs):
    ds = Mot17Dataset(os.path.join(lmdbs, "train_lmdb"), sample_mode="random_interval", **MOTR)
    expected = {0: 2, 1: 3, 2: 4, 3: 5, 10: 5}
    for epoch, length in expected.items():
        ds.set_epoch(epoch)
        assert ds.clip_length == length
        with seeded_rngs(epoch):
            assert {len(ds[i]["frames"]) for i in range(len(ds))} == {length}


def test_fixed_interval_frames_and_no_crossing(lmdbs):
    ds = Mot17Dataset(os.path.join(lmdbs, "train_lmdb"), sampler_lengths=[3], sample_interval=2)
    # frame i starts its clip unless the clip would pass the sequence's end
    assert _frames(ds[0]) == [("MOT17-02-FRCNN", 1), ("MOT17-02-FRCNN", 3), ("MOT17-02-FRCNN", 5)]
    assert _frames(ds[2]) == [("MOT17-02-FRCNN", 3), ("MOT17-02-FRCNN", 5), ("MOT17-02-FRCNN", 7)]
    assert _frames(ds[5]) == _frames(ds[2])  # moved back inside MOT17-02 (7 frames)
    # MOT17-04 has 5 frames: a step of 2 fits exactly once
    assert [ds.clip_indices(i) for i in range(7, 12)] == [[7, 9, 11]] * 5
    assert _frames(ds[11]) == [("MOT17-04-FRCNN", 1), ("MOT17-04-FRCNN", 3), ("MOT17-04-FRCNN", 5)]


def test_random_interval_within_bounds_and_sequence(lmdbs):
    ds = Mot17Dataset(
        os.path.join(lmdbs, "train_lmdb"),
        sampler_lengths=[3],
        sample_mode="random_interval",
        sample_interval=3,
    )
    steps = set()
    for seed in range(40):
        for i in range(len(ds)):
            with seeded_rngs(seed * 100 + i):
                idx = ds.clip_indices(i)
            gaps = set(np.diff(idx).tolist())
            assert len(gaps) == 1 and 1 <= gaps.pop() <= 3
            span = ds.sampling.span_of(i)
            assert span.start <= idx[0] and idx[-1] < span.start + span.length
            steps.add(idx[1] - idx[0])
    assert steps == {1, 2, 3}  # MOT17-02's 7 frames allow a step of 3 for 3 frames
    # the same (seeded) draw gives the same clip: what the loader's per-sample seeding relies on
    with seeded_rngs(5):
        a = _frames(ds[4])
    with seeded_rngs(5):
        assert _frames(ds[4]) == a


def test_interval_lowered_for_a_short_sequence(lmdbs):
    ds = Mot17Dataset(os.path.join(lmdbs, "train_lmdb"), sampler_lengths=[5], sample_interval=10)
    assert ds.clip_indices(7) == [7, 8, 9, 10, 11]  # MOT17-04: 5 frames, step 1
    assert ds.clip_indices(0) == [0, 1, 2, 3, 4]  # MOT17-02: 7 frames, step (7-1)//4 = 1


def test_single_frames_in_order_for_the_tracker(lmdbs):
    ds = Mot17Dataset(os.path.join(lmdbs, "test_lmdb"))
    order = [_frames(ds[i])[0] for i in range(len(ds))]
    assert order == [(name, f) for name, n in SEQUENCES["test"] for f in range(1, n + 1)]


def test_targets_are_considered_pedestrians(lmdbs):
    path = os.path.join(lmdbs, "train_lmdb")
    frame = Mot17Dataset(path)[1]["frames"][0]  # frame 2: track 4 considered (even frame)
    assert sorted(frame["gt_ids"].tolist()) == [1, 2, 4]
    frame = Mot17Dataset(path)[2]["frames"][0]  # frame 3: track 4 not considered
    assert sorted(frame["gt_ids"].tolist()) == [1, 2]
    assert frame["gt_classes"].tolist() == [1, 1] and frame["gt_bboxes"].shape == (2, 4)
    everything = Mot17Dataset(path, pedestrians_only=False)[2]["frames"][0]
    assert sorted(everything["gt_ids"].tolist()) == [1, 2, 3, 4]
    assert everything["img"].shape == (48, 64, 3) and everything["ori_shape"].tolist() == [48, 64]


def test_bad_sampling_arguments_are_named(lmdbs):
    path = os.path.join(lmdbs, "train_lmdb")
    with pytest.raises(ValueError, match=r"sequence MOT17-04-FRCNN has 5 frames, fewer than"):
        Mot17Dataset(path, sampler_lengths=[2, 6], sampler_steps=[4])
    with pytest.raises(ValueError, match=r"one epoch per change of length: 3 values"):
        Mot17Dataset(path, sampler_lengths=[2, 3, 4, 5], sampler_steps=[1, 2])
    with pytest.raises(ValueError, match=r"sample_mode 'every'"):
        Mot17Dataset(path, sample_mode="every")


def test_lmdb_not_written_by_the_packer_is_refused(lmdbs, tmp_path):
    other = str(tmp_path / "other_lmdb")
    with LmdbWriter(other) as w:
        w.append({"schema": "hat.flyingchairs/1"})
    with pytest.raises(CorruptFileError, match=r"other_lmdb key '0': not a MOT17 value"):
        Mot17Dataset(other)
    # MOT17 records, but a sequence's frames out of order
    reader = LmdbReader(os.path.join(lmdbs, "train_lmdb"))
    shuffled = str(tmp_path / "shuffled_lmdb")
    with LmdbWriter(shuffled) as w:
        for i in (1, 0, 2, 3, 4, 5, 6):
            w.append(reader[i])
    with pytest.raises(CorruptFileError, match=r"frame 2 of MOT17-02-FRCNN where a sequence's"):
        Mot17Dataset(shuffled)
    gap = str(tmp_path / "gap_lmdb")  # MOT17-02's frame 7 missing
    with LmdbWriter(gap) as w:
        for i in (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11):
            w.append(reader[i])
    with pytest.raises(
        CorruptFileError, match=r"key '6': expected frame 7 of MOT17-02-FRCNN, found frame 1 of"
    ):
        Mot17Dataset(gap)


def test_mot17_from_image_equals_the_packed_test_split(mot_root, lmdbs):
    raw = Mot17FromImage(os.path.join(mot_root, "test"))
    packed = Mot17Dataset(os.path.join(lmdbs, "test_lmdb"))
    assert len(raw) == len(packed) == 10
    for i in range(len(raw)):
        a, b = raw[i]["frames"][0], packed[i]["frames"][0]
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_collate_clips(lmdbs):
    ds = Mot17Dataset(os.path.join(lmdbs, "train_lmdb"), sampler_lengths=[2], sample_interval=1)
    batch = collate_mot_clips([ds[0], ds[7]])
    assert batch["clip_length"] == 2 and len(batch["frames"]) == 2
    first = batch["frames"][0]
    assert first["img"].shape == (2, 48, 64, 3) and first["img"].dtype == torch.uint8
    assert first["seq_name"] == ["MOT17-02-FRCNN", "MOT17-04-FRCNN"]
    assert first["frame_id"].tolist() == [1, 1]
    assert [b.shape[0] for b in first["gt_bboxes"]] == [2, 2]
    assert first["gt_ids"][1].tolist() == [1_000_001, 1_000_002]
    with pytest.raises(ValueError, match=r"one non-zero length, got \[2, 1\]"):
        collate_mot_clips([ds[0], {"frames": ds[0]["frames"][:1]}])


def test_loader_workers_see_the_epoch(lmdbs):
    """Persistent worker processes get the clip length set after they started."""
    ds = Mot17Dataset(os.path.join(lmdbs, "train_lmdb"), **MOTR)
    sampler = DistSetEpochDatasetSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = DataLoader(
        ds,
        sampler=sampler,
        batch_size=2,
        num_workers=1,
        persistent_workers=True,
        collate_fn=collate_mot_clips,
    )
    for epoch, length in ((0, 2), (3, 5)):
        sampler.set_epoch(epoch)
        assert {b["clip_length"] for b in loader} == {length}


def test_loader_config_keeps_the_epoch_sampler(lmdbs):
    loader = build_from_registry(
        dict(
            type=DataLoader,
            dataset=dict(type="Mot17Dataset", data_path=os.path.join(lmdbs, "train_lmdb"), **MOTR),
            sampler=dict(type="DistSetEpochDatasetSampler"),
            shuffle=True,
            batch_size=1,
            collate_fn=collate_mot_clips,
        )
    )
    assert type(loader.sampler) is DistSetEpochDatasetSampler is ExportedSampler
    set_loader_epoch(loader, 2)
    assert {b["clip_length"] for b in loader} == {4}


def _rank_clips(rank: int, port: int, path: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        ds = Mot17Dataset(path, **MOTR)
        sampler = DistSetEpochDatasetSampler(ds, shuffle=True, seed=3)
        seen = {}
        for epoch in (0, 1, 3):
            sampler.set_epoch(epoch)
            indices = list(sampler)
            seen[epoch] = (indices, [len(ds[i]["frames"]) for i in indices])
        gathered = [None, None]
        dist.all_gather_object(gathered, seen)
        if rank == 0:
            torch.save(gathered, out)
    finally:
        dist.destroy_process_group()


def test_two_ranks_agree_on_the_length_and_split_the_indices(lmdbs, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "ranks.pt")
    path = os.path.join(lmdbs, "train_lmdb")
    tmp.spawn(_rank_clips, args=(port, path, out), nprocs=2, join=True)
    rank0, rank1 = torch.load(out, weights_only=True)
    for epoch, length in ((0, 2), (1, 3), (3, 5)):
        (idx0, len0), (idx1, len1) = rank0[epoch], rank1[epoch]
        assert set(len0) == set(len1) == {length}
        assert len(idx0) == len(idx1) == 6 and not set(idx0) & set(idx1)
        assert sorted(idx0 + idx1) == list(range(12))
    assert rank0[0][0] != rank0[1][0]  # shuffled anew each epoch
