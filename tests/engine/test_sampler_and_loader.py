"""Resumable sampler (global order, skipping, sharding) and the DataLoader build hook."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler

from hat.data.dataloader import resumable_sampler_of, set_loader_epoch
from hat.data.samplers import ResumableDistributedSampler
from hat.registry import build_from_registry

DATA = list(range(22))


def batches(sampler, batch_size):
    order = list(sampler)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def test_ranks_together_see_the_single_process_global_batches():
    one = ResumableDistributedSampler(DATA, num_replicas=1, rank=0, seed=3)
    ranks = [ResumableDistributedSampler(DATA, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    for s in [one, *ranks]:
        s.set_epoch(4)
    single = batches(one, 4)
    per_rank = [batches(s, 2) for s in ranks]
    for step in range(len(per_rank[0]) - 1):  # the padded tail differs, the rest is identical
        assert sorted(per_rank[0][step] + per_rank[1][step]) == sorted(single[step])


def test_skip_resumes_at_the_same_position_even_with_another_world_size():
    full = ResumableDistributedSampler(DATA, num_replicas=2, rank=1, seed=0)
    full.set_epoch(1)
    expected = list(full)[3:]  # rank 1 consumed 3 samples = 6 global samples
    resumed = ResumableDistributedSampler(DATA, num_replicas=2, rank=1, seed=0)
    resumed.set_epoch(1)
    resumed.skip_samples(6)
    assert list(resumed) == expected and len(resumed) == len(expected)
    single = ResumableDistributedSampler(DATA, num_replicas=1, rank=0, seed=0)
    single.set_epoch(1)
    order = single.global_indices()
    single.skip_samples(6)
    assert list(single) == order[6:]
    single.set_epoch(2)  # a new epoch starts from its beginning again
    assert len(list(single)) == len(DATA)


def test_unpadded_shards_cover_every_sample_once():
    shards = [
        list(ResumableDistributedSampler(DATA, 3, r, shuffle=False, pad_to_even=False))
        for r in range(3)
    ]
    assert sorted(i for s in shards for i in s) == DATA


def test_loader_hook_replaces_distributed_sampler_and_moves_shuffle():
    loader = build_from_registry(
        dict(
            type=DataLoader,
            dataset=DATA,
            sampler=dict(type=DistributedSampler),
            batch_size=4,
            shuffle=True,
        ),
        path="data_loader",
    )
    sampler = resumable_sampler_of(loader)
    assert isinstance(sampler, ResumableDistributedSampler)
    assert sampler.shuffle and sampler.num_replicas == 1
    assert loader.generator is not None
    set_loader_epoch(loader, 0)
    first = [b.tolist() for b in loader]
    set_loader_epoch(loader, 1)
    assert [b.tolist() for b in loader] != first
    set_loader_epoch(loader, 0)
    assert [b.tolist() for b in loader] == first


def test_loader_without_sampler_is_resumable_and_builds_other_samplers():
    plain = build_from_registry(dict(type=DataLoader, dataset=DATA, batch_size=5))
    assert resumable_sampler_of(plain) is not None and not resumable_sampler_of(plain).shuffle
    assert [b.tolist() for b in plain][0] == [0, 1, 2, 3, 4]
    custom = build_from_registry(
        dict(type=DataLoader, dataset=DATA, sampler=dict(type=SequentialSampler), batch_size=5)
    )
    assert isinstance(custom.sampler, SequentialSampler)


def test_loader_generator_isolates_the_global_rng():
    loader = build_from_registry(
        dict(type=DataLoader, dataset=torch.arange(8), batch_size=2, shuffle=True, num_workers=0)
    )
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    iter(loader)  # creating an iterator must not draw from the global RNG
    assert torch.equal(torch.rand(1), expected)
