"""Random augmentation depends only on (seed, epoch, sample index): the same batches with any
``num_workers`` (forked, spawned, persistent), after a mid-epoch resume, and a SIGKILLed and
resumed training ends with exactly the weights of an uninterrupted one."""

from __future__ import annotations

import os
import random
import signal
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hat.data.dataloader import resumable_sampler_of, set_loader_epoch
from hat.data.datasets import FlyingChairs
from hat.data.sample_seeding import SampleSeededDataset
from hat.data.transforms import RandomCrop, RandomFlip, ToTensor
from hat.registry import build_from_registry

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "engine"))
from engine_test_helpers import load_weights, opts, read_records, run_tool  # noqa: E402

AUGMENT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "augment_toy_config.py")


class Jitter:
    """Brightness jitter from numpy and an offset from python ``random`` (the other two global
    generators a transform may draw from)."""

    def __call__(self, sample: dict) -> dict:
        gain = float(np.random.uniform(0.8, 1.2))
        offset = random.randint(-8, 8)
        img = sample["img"].float() * gain + offset
        return dict(sample, img=img.clamp(0, 255).round().to(torch.uint8))


def _loader(train_lmdb: str, num_workers: int, **kwargs) -> DataLoader:
    dataset = FlyingChairs(
        train_lmdb, transforms=[ToTensor(), RandomCrop((32, 48)), RandomFlip(0.5, 0.5), Jitter()]
    )
    cfg = dict(type=DataLoader, dataset=dataset, batch_size=2, shuffle=True)
    return build_from_registry(dict(cfg, num_workers=num_workers, **kwargs), path="data_loader")


def _epoch(loader: DataLoader, epoch: int) -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
    set_loader_epoch(loader, epoch)
    return [(b["img_name"].tolist(), b["img"], b["gt_flow"]) for b in loader]


def _assert_same(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for (names, img, flow), (exp_names, exp_img, exp_flow) in zip(got, expected, strict=True):
        assert names == exp_names
        assert torch.equal(img, exp_img) and torch.equal(flow, exp_flow)


@pytest.fixture(scope="module")
def reference(train_lmdb):
    """Epochs 0 and 1 loaded in the main process."""
    loader = _loader(train_lmdb, 0)
    return [_epoch(loader, 0), _epoch(loader, 1)]


@pytest.mark.parametrize("num_workers", [2, 3])
def test_batches_do_not_depend_on_the_number_of_workers(train_lmdb, reference, num_workers):
    loader = _loader(train_lmdb, num_workers)
    assert isinstance(loader.dataset, SampleSeededDataset)
    _assert_same(_epoch(loader, 0), reference[0])
    _assert_same(_epoch(loader, 1), reference[1])


def test_augmentation_is_random_across_samples_and_epochs(reference):
    # a sample's crop/flip/jitter differs from one epoch to the next (and between samples)
    by_name = [
        {n: img[i] for names, img, _ in epoch for i, n in enumerate(names)} for epoch in reference
    ]
    assert by_name[0].keys() == by_name[1].keys() and len(by_name[0]) == 8
    differing = [n for n in by_name[0] if not torch.equal(by_name[0][n], by_name[1][n])]
    assert len(differing) >= 6, differing


def test_persistent_spawned_workers_see_each_new_epoch(train_lmdb, reference):
    loader = _loader(
        train_lmdb, 2, persistent_workers=True, multiprocessing_context="spawn"
    )
    _assert_same(_epoch(loader, 0), reference[0])
    _assert_same(_epoch(loader, 1), reference[1])  # same worker processes, next epoch's seeds


@pytest.mark.parametrize("num_workers", [0, 2])
def test_mid_epoch_resume_loads_the_same_remaining_batches(train_lmdb, reference, num_workers):
    loader = _loader(train_lmdb, num_workers)
    set_loader_epoch(loader, 1)
    resumable_sampler_of(loader).skip_samples(2 * 3)  # three batches of two were consumed
    got = [(b["img_name"].tolist(), b["img"], b["gt_flow"]) for b in loader]
    _assert_same(got, reference[1][3:])


def test_loading_in_the_main_process_leaves_its_random_streams_alone(train_lmdb):
    loader = _loader(train_lmdb, 0)
    set_loader_epoch(loader, 0)
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    for _ in loader:
        pass
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2]


KILL_AT = 17  # global step 17 = epoch 2, step 6 of 12; the last checkpoint is after step 16


def _train(tmp_path, name: str, *extra: str, **values) -> tuple[object, str, str]:
    ckpt_dir, record = str(tmp_path / name), str(tmp_path / f"{name}.jsonl")
    result = run_tool(
        "train", "--config", AUGMENT_CONFIG, *extra,
        *opts(ckpt_dir=ckpt_dir, record_path=record, **values),
        cwd=str(tmp_path),
    )  # fmt: skip
    return result, ckpt_dir, record


def test_sigkill_and_resume_with_workers_matches_an_uninterrupted_run(tmp_path):
    full, full_dir, full_rec = _train(tmp_path, "full", num_workers=2)
    assert full.returncode == 0, full.stderr
    main, main_dir, _ = _train(tmp_path, "main", num_workers=0)
    assert main.returncode == 0, main.stderr
    killed, cut_dir, cut_rec = _train(tmp_path, "cut", num_workers=2, kill_at_step=KILL_AT)
    assert killed.returncode == -signal.SIGKILL
    resumed, _, _ = _train(tmp_path, "cut", "--resume", num_workers=2)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout

    expected = load_weights(os.path.join(full_dir, "float-checkpoint-last.pth.tar"))
    for other in (cut_dir, main_dir):  # resumed with 2 workers; uninterrupted with none
        got = load_weights(os.path.join(other, "float-checkpoint-last.pth.tar"))
        assert expected.keys() == got.keys()
        for key in expected:
            assert torch.equal(got[key], expected[key]), (other, key)

    full_steps, cut_steps = read_records(full_rec), read_records(cut_rec)
    merged = [r for r in cut_steps[:KILL_AT] if r["step"] < 16] + cut_steps[KILL_AT:]
    assert [r["indices"] for r in merged] == [r["indices"] for r in full_steps]
    assert [r["loss"] for r in merged] == [r["loss"] for r in full_steps]
