"""What a checkpoint holds, and how a loop is restored from it.

Checkpoint schema (every value is a tensor, container or primitive, so
``torch.load(path, weights_only=True)`` reads it)::

    state_dict        model weights (DDP wrapper removed), CPU tensors
    optimizer         optimizer.state_dict() or None
    batch_processor   e.g. {"grad_scaler": {...}} (AMP), may be {}
    callbacks         {"CosLrUpdater#0": {...}, "Checkpoint#0": {...}, ...} (class name and
                      occurrence index, so reordering different callbacks is harmless)
    epoch             epoch_id in progress (0-based)
    step              steps done in total (= global_step_id + 1 after a step)
    progress          {"epoch_id", "steps_in_epoch", "epoch_finished", "global_steps",
                       "batch_size", "world_size"}
    sampler           {"epoch", "consumed_samples"}: global samples of that epoch consumed
    rng               [per-rank {"python", "numpy", "torch", "cuda"?}] (gathered to rank 0)
    config            the resolved config text (after --opts)
    config_source     the original config file(s)
    meta              {"stage", "world_size", "time", "hat_version", "torch_version",
                       "metric": latest validation results}

Resume (:func:`restore_training_state`): weights always; with ``optimizer`` the optimizer and
grad-scaler state; with ``progress`` the counters, callback states, the sampler position and the
RNG state of this rank. The loop then skips ``consumed_samples`` at the sampler (index) level;
a checkpoint written at an epoch's end resumes at the next epoch.

What a resume keeps when the config changed, each said in a warning: the optimizer's
hyper-parameters (``lr`` - the base LR, ``initial_lr``, which the LR updaters schedule from -,
``momentum``, ``weight_decay``, ...) come from the checkpoint; with another batch size the
sample position of the epoch is kept (``consumed_samples``) and the step counters continue
from the checkpoint's, so an epoch has a different number of steps from there on.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import torch

import hat
from hat.utils.checkpoint import CheckpointError, load_state_into
from hat.utils.distributed import all_gather_object, get_rank, get_world_size, unwrap_model
from hat.utils.rng_state import get_rng_state
from hat.utils.run_context import current_stage, get_run_context

__all__ = [
    "ResumeState",
    "collect_training_state",
    "restore_training_state",
    "find_resume_checkpoint",
    "expected_resume_paths",
    "callback_state_keys",
]

logger = logging.getLogger(__name__)


@dataclass
class ResumeState:
    """Where a resumed run continues; consumed by the loop at its first epoch."""

    steps_in_epoch: int
    consumed_samples: int
    epoch_finished: bool
    world_size: int
    rng: dict[str, Any] | None


def callback_state_keys(callbacks: list[Any]) -> list[str]:
    """``ClassName#k`` for the k-th callback of that class, in list order."""
    seen: dict[str, int] = {}
    keys = []
    for cb in callbacks:
        name = type(cb).__name__
        keys.append(f"{name}#{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return keys


def collect_training_state(loop: Any) -> dict[str, Any]:
    """The checkpoint dict of ``loop`` now. Collective under DDP: call it on every rank."""
    rng_states = all_gather_object(get_rng_state())
    finished = bool(loop.in_epoch_end)
    steps_in_epoch = loop.steps_done_in_epoch()
    global_steps = loop.global_steps_done()
    model_state = unwrap_model(loop.model).state_dict()
    batch_size = getattr(loop.data_loader, "batch_size", None)
    world_size = get_world_size()
    callbacks = {}
    for key, cb in zip(callback_state_keys(loop.callbacks), loop.callbacks):
        state = cb.state_dict() if hasattr(cb, "state_dict") else {}
        if state:
            callbacks[key] = state
    processor = loop.batch_processor
    context = get_run_context()
    return {
        "state_dict": {k: v.detach().cpu() for k, v in model_state.items()},
        "optimizer": loop.optimizer.state_dict() if loop.optimizer is not None else None,
        "batch_processor": processor.state_dict() if hasattr(processor, "state_dict") else {},
        "callbacks": callbacks,
        "epoch": loop.epoch_id,
        "step": global_steps,
        "progress": {
            "epoch_id": loop.epoch_id,
            "steps_in_epoch": steps_in_epoch,
            "epoch_finished": finished,
            "global_steps": global_steps,
            "batch_size": batch_size,
            "world_size": world_size,
        },
        "sampler": {
            "epoch": loop.epoch_id,
            "consumed_samples": steps_in_epoch * (batch_size or 0) * world_size,
        },
        "rng": rng_states,
        "config": context.config_text,
        "config_source": context.config_source,
        "meta": {
            "stage": current_stage(),
            "world_size": world_size,
            "time": time.time(),
            "hat_version": hat.__version__,
            "torch_version": str(torch.__version__),
            "metric": dict(loop.val_results),
        },
    }


def restore_training_state(
    loop: Any, state: dict[str, Any], path: str, optimizer: bool, progress: bool
) -> ResumeState | None:
    """Load ``state`` into ``loop`` (see module docstring); returns where to continue."""
    _load_weights(unwrap_model(loop.model), state, path)
    if optimizer:
        if loop.optimizer is None or state.get("optimizer") is None:
            logger.warning("%s: no optimizer state to resume (or no optimizer)", path)
        else:
            _load_optimizer(loop.optimizer, state["optimizer"], path)
        if hasattr(loop.batch_processor, "load_state_dict"):
            loop.batch_processor.load_state_dict(state.get("batch_processor") or {})
    if not progress:
        logger.info("loaded weights%s from %s", " and optimizer" if optimizer else "", path)
        return None
    if "progress" not in state:
        raise CheckpointError(f"{path} has no training progress (not written by a trainer)")
    prog = state["progress"]
    callback_states = state.get("callbacks", {})
    for key, cb in zip(callback_state_keys(loop.callbacks), loop.callbacks):
        if key in callback_states and hasattr(cb, "load_state_dict"):
            cb.load_state_dict(callback_states[key])
    finished = bool(prog["epoch_finished"])
    saved_world = int(prog.get("world_size") or 1)
    consumed = 0 if finished else _consumed_samples(state, saved_world)
    loop.epoch_id = prog["epoch_id"] + (1 if finished else 0)
    loop.step_id = 0 if finished else prog["steps_in_epoch"]
    loop.global_step_id = prog["global_steps"]
    batch_size = getattr(loop.data_loader, "batch_size", None)
    saved_batch = prog.get("batch_size")
    if saved_batch and batch_size and saved_batch != batch_size:
        if not finished:
            loop.step_id = consumed // (batch_size * get_world_size())
        logger.warning(
            "%s was written with batch_size %d per process, this run has %d: kept the sample "
            "position (%d samples of epoch %d consumed; the epoch continues with step %d) and "
            "the global step counter (%d); steps per epoch and step-based schedules follow "
            "the new batch size from here",
            path,
            saved_batch,
            batch_size,
            consumed,
            loop.epoch_id,
            loop.step_id,
            loop.global_step_id,
        )
    rng = _rng_of_this_rank(state.get("rng"), saved_world, path)
    logger.info(
        "resumed from %s: epoch %d, step %d in epoch, global step %d",
        path,
        loop.epoch_id,
        loop.step_id,
        loop.global_step_id,
    )
    return ResumeState(
        steps_in_epoch=loop.step_id,
        consumed_samples=consumed,
        epoch_finished=finished,
        world_size=saved_world,
        rng=rng,
    )


def _load_weights(model: torch.nn.Module, state: dict[str, Any], path: str) -> None:
    if "state_dict" not in state:
        raise CheckpointError(f"{path}: no 'state_dict' entry (keys: {sorted(state)})")
    load_state_into(model, state["state_dict"], path, strip_prefix=None)


def _consumed_samples(state: dict[str, Any], saved_world: int) -> int:
    """Global samples of the saved epoch already consumed (older files: from the counters)."""
    sampler = state.get("sampler") or {}
    if "consumed_samples" in sampler:
        return int(sampler["consumed_samples"])
    prog = state["progress"]
    return int(prog["steps_in_epoch"]) * int(prog.get("batch_size") or 0) * saved_world


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict[str, Any], path: str) -> None:
    """``optimizer.load_state_dict(saved)``, warning about hyper-parameters the config changed
    (the checkpoint's values are kept: they are part of the resumed state)."""
    configured = [dict(g) for g in optimizer.param_groups]
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: the optimizer state does not fit the configured optimizer "
            f"({type(optimizer).__name__}): {exc}"
        ) from None
    changes = _changed_hyper_parameters(configured, saved.get("param_groups") or [])
    if changes:
        logger.warning(
            "%s: resumed with the checkpoint's optimizer settings, which differ from the "
            "config: %s (kept: the checkpoint's values; to train with the new ones, start a "
            "new run from these weights, e.g. load them with a LoadCheckpoint converter)",
            path,
            "; ".join(changes),
        )


def _changed_hyper_parameters(configured: list[dict], saved: list[dict]) -> list[str]:
    changes = []
    for i, (now, then) in enumerate(zip(configured, saved)):
        for key, value in now.items():
            if key in ("params", "initial_lr") or not isinstance(value, (int, float, tuple)):
                continue
            if key == "lr":  # the base LR; the saved "lr" is the scheduled one at that step
                old = then.get("initial_lr", then.get("lr"))
            else:
                old = then.get(key)
            if isinstance(old, list):
                old = tuple(old)
            if isinstance(old, (int, float, tuple)) and old != value:
                changes.append(f"group {i} {key}={old!r} (config: {value!r})")
    return changes


def _rng_of_this_rank(rng: Any, saved_world: int, path: str) -> dict[str, Any] | None:
    if not rng:
        return None
    if isinstance(rng, dict):  # a single state
        return rng
    if saved_world != get_world_size():
        logger.warning(
            "%s was written by %d processes, this run has %d: RNG states are not restored "
            "(the data order is, at the sampler level)",
            path,
            saved_world,
            get_world_size(),
        )
        return None
    return rng[get_rank()]


def find_resume_checkpoint(callbacks: list[Any]) -> str | None:
    """The ``last`` file of the first ``Checkpoint``-like callback, if it exists."""
    for cb in callbacks:
        path = getattr(cb, "last_path", None)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


def expected_resume_paths(callbacks: list[Any]) -> list[str]:
    """Where :func:`find_resume_checkpoint` looks (for error messages)."""
    return [cb.last_path for cb in callbacks if isinstance(getattr(cb, "last_path", None), str)]
