"""Build hook for ``torch.utils.data.DataLoader`` configs: resumable sampling, seeded workers.

Registered with ``lazy_keys=("sampler",)`` so the ``sampler`` dict arrives unbuilt and gets the
built ``dataset`` injected here (the registry builds bottom-up, the sampler dict has no dataset).

* ``sampler=dict(type=torch.utils.data.DistributedSampler, ...)`` (or any subclass, or
  ``"ResumableDistributedSampler"``) becomes :class:`ResumableDistributedSampler` (its own
  subclasses, e.g. ``"DistSetEpochDatasetSampler"``, are kept);
  the loader's ``shuffle`` goes to the sampler unless the sampler dict sets it.
* other sampler dicts are built with ``dataset`` (or ``data_source``) injected when their
  constructor takes it; a built sampler object is used as is.
* no sampler: a :class:`ResumableDistributedSampler` anyway (``shuffle`` as given, padded
  when shuffling; unshuffled loaders shard exactly, for evaluation), so every loader can resume
  and is sharded under DDP.
* ``pin_memory=True`` is dropped when there is no CUDA device (configs stay portable);
* the loader gets its own ``torch.Generator`` (seeded from the global RNG at build time) so that
  creating an iterator never consumes the global RNG (mid-epoch resume stays exact), and
  ``worker_init_fn`` defaults to :func:`hat.utils.seed.seed_worker`;
* a map-style dataset is wrapped in :class:`~hat.data.sample_seeding.SampleSeededDataset`
  (seed: :func:`hat.utils.seed.base_seed`): each sample's random augmentation depends only on
  (seed, epoch, index), not on ``num_workers``, the world size or a mid-epoch resume;
* an empty dataset is refused (a :class:`~hat.registry.BuildError` naming it).

Call :func:`set_loader_epoch` at each epoch start (the trainers do).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, Sampler

from hat.data.sample_seeding import SampleSeededDataset
from hat.data.samplers import ResumableDistributedSampler
from hat.registry import OBJECT_REGISTRY, BuildError, build_from_registry
from hat.utils.seed import base_seed, seed_worker

__all__ = ["build_data_loader", "set_loader_epoch", "resumable_sampler_of"]

_GENERATOR_SEED_ATTR = "_hat_generator_seed"


def build_data_loader(
    target: type[DataLoader],
    dataset: Any,
    sampler: Any = None,
    shuffle: bool | None = None,
    batch_sampler: Any = None,
    generator: torch.Generator | None = None,
    worker_init_fn: Any = None,
    num_workers: int = 0,
    **kwargs: Any,
) -> DataLoader:
    """``target(dataset, sampler=..., ...)`` with the rules in the module docstring."""
    _refuse_empty(dataset)
    if batch_sampler is None:
        sampler = _make_sampler(sampler, dataset, shuffle)
        shuffle = None
    elif sampler is not None:
        raise BuildError("sampler: give either 'sampler' or 'batch_sampler', not both")
    if generator is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
        generator = torch.Generator().manual_seed(seed)
    else:
        seed = generator.initial_seed()
    if num_workers > 0 and worker_init_fn is None:
        worker_init_fn = seed_worker
    if kwargs.get("pin_memory") and not torch.cuda.is_available():
        kwargs["pin_memory"] = False  # nothing to pin for; torch would warn at every epoch
    if not isinstance(dataset, (IterableDataset, SampleSeededDataset)):
        dataset = SampleSeededDataset(dataset, base_seed())
    loader = target(
        dataset,
        sampler=sampler,
        shuffle=shuffle,
        batch_sampler=batch_sampler,
        generator=generator,
        worker_init_fn=worker_init_fn,
        num_workers=num_workers,
        **kwargs,
    )
    setattr(loader, _GENERATOR_SEED_ATTR, seed)
    return loader


def _refuse_empty(dataset: Any) -> None:
    if isinstance(dataset, IterableDataset):
        return
    try:
        size = len(dataset)
    except TypeError:
        return
    if size == 0:
        raise BuildError(f"dataset: the dataset is empty (0 samples): {dataset!r}")


def _make_sampler(cfg: Any, dataset: Any, shuffle: bool | None) -> Sampler | None:
    if cfg is None:
        shuffle = bool(shuffle)
        return ResumableDistributedSampler(dataset, shuffle=shuffle, pad_to_even=shuffle)
    if isinstance(cfg, Sampler):
        return cfg
    if isinstance(cfg, type):
        cfg = {"type": cfg}
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise BuildError(f"sampler: expected a dict with 'type' or a Sampler, got {cfg!r}")
    kwargs = build_from_registry({k: v for k, v in cfg.items() if k != "type"}, path="sampler")
    target = cfg["type"]
    if isinstance(target, str):
        try:
            target = OBJECT_REGISTRY.get(target)
        except KeyError as exc:
            raise BuildError(f"sampler.type: {exc.args[0]}") from None
    if isinstance(target, type) and issubclass(target, DistributedSampler):
        if shuffle is not None:
            kwargs.setdefault("shuffle", shuffle)
        if not issubclass(target, ResumableDistributedSampler):
            target = ResumableDistributedSampler  # e.g. DistSetEpochDatasetSampler is kept
        kwargs.setdefault("pad_to_even", True)
    elif shuffle:
        raise BuildError(
            f"sampler: shuffle=True cannot be handed to {getattr(target, '__name__', target)}; "
            "set shuffling on the sampler itself"
        )
    params = _parameters(target)
    for name in ("dataset", "data_source"):
        if name in params and name not in kwargs:
            kwargs[name] = dataset
            break
    try:
        return target(**kwargs)
    except TypeError as exc:
        raise BuildError(f"sampler: {getattr(target, '__name__', target)}: {exc}") from None


def _parameters(target: Any) -> set[str]:
    try:
        return set(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return set()


def resumable_sampler_of(loader: Any) -> ResumableDistributedSampler | None:
    """The loader's :class:`ResumableDistributedSampler`, if it has one."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, ResumableDistributedSampler):
        return sampler
    batch_sampler = getattr(loader, "batch_sampler", None)
    inner = getattr(batch_sampler, "sampler", None)
    return inner if isinstance(inner, ResumableDistributedSampler) else None


def set_loader_epoch(loader: Any, epoch: int) -> None:
    """Prepare ``loader`` for ``epoch``: sampler epoch (shuffle order) and worker seeds.

    The dataset's per-sample seeds use ``epoch`` (see :mod:`hat.data.sample_seeding`).
    The loader's private generator is re-seeded from ``(build seed, epoch)``, so the worker
    seeds of an epoch are the same in an uninterrupted and in a resumed run.
    """
    sampler = getattr(loader, "sampler", None)
    set_epoch = getattr(sampler, "set_epoch", None)
    if set_epoch is None:
        set_epoch = getattr(getattr(loader, "batch_sampler", None), "set_epoch", None)
    if set_epoch is None and not isinstance(loader, DataLoader):
        set_epoch = getattr(loader, "set_epoch", None)  # e.g. chained loaders
    if callable(set_epoch):
        set_epoch(epoch)
    dataset = getattr(loader, "dataset", None)
    if isinstance(dataset, SampleSeededDataset):
        dataset.set_epoch(epoch)
    seed = getattr(loader, _GENERATOR_SEED_ATTR, None)
    generator = getattr(loader, "generator", None)
    if seed is not None and generator is not None:
        generator.manual_seed((seed + 1_000_003 * epoch) % (2**63))


OBJECT_REGISTRY.register_build_hook(DataLoader, build_data_loader, lazy_keys=("sampler",))
