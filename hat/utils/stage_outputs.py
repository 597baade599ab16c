"""The checkpoint folders a training stage writes, claimed before it starts.

``ckpt_dir`` is shared by every stage of a task (float, calibration, qat, ...). Before a training
starts, :func:`claim_stage_outputs` takes the :class:`~hat.utils.run_lock.RunLock` of each folder
the stage writes checkpoints to (``ckpt_dir``, and the ``save_dir`` of the stage's ``Checkpoint``
callbacks or calibrator) and looks for checkpoints of *that stage* there
(``{prefix}checkpoint-*.pth.tar``, ``prefix`` being ``name_prefix`` or ``"{stage}-"``). When
there are some, the run continues only with ``resume`` (continue them) or ``overwrite`` (remove
them first and start over); other stages' files are never looked at, so calibration after float
is not refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from hat.errors import UserInputError
from hat.utils.run_config import RunConfig
from hat.utils.run_lock import RunLock

__all__ = ["checkpoint_places", "existing_checkpoints", "claim_stage_outputs"]

_SUFFIXES = (".pth.tar", ".pth.tar.sha256")


def checkpoint_places(config: RunConfig, stage: str) -> list[tuple[str, str]]:
    """``(folder, file prefix)`` pairs where ``stage``'s training writes checkpoints."""
    places: list[tuple[str, str]] = []
    ckpt_dir = config.get("ckpt_dir")
    if isinstance(ckpt_dir, str) and ckpt_dir:
        places.append((ckpt_dir, f"{stage}-"))
    spec = config.trainer(stage)
    for holder in [spec, *_checkpoint_callbacks(spec)]:
        save_dir = holder.get("save_dir")
        if isinstance(save_dir, str) and save_dir:
            prefix = holder.get("name_prefix") or f"{stage}-"
            places.append((save_dir, str(prefix)))
    unique: dict[tuple[str, str], None] = {}
    for folder, prefix in places:
        unique.setdefault((os.path.abspath(folder), prefix), None)
    return list(unique)


def existing_checkpoints(places: list[tuple[str, str]]) -> list[str]:
    """Checkpoint files (and their ``.sha256``) already present at ``places``, sorted."""
    found = []
    for folder, prefix in places:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        start = f"{prefix}checkpoint-"
        found += [
            os.path.join(folder, n) for n in names if n.startswith(start) and n.endswith(_SUFFIXES)
        ]
    return sorted(set(found))


@contextmanager
def claim_stage_outputs(
    config: RunConfig, stage: str, resume: bool = False, overwrite: bool = False
) -> Iterator[list[str]]:
    """Lock ``stage``'s checkpoint folders for the duration of the ``with`` block and refuse to
    start over existing checkpoints of the stage unless ``resume`` or ``overwrite`` (which
    removes them first). Yields the checkpoint files found."""
    places = checkpoint_places(config, stage)
    with ExitStack() as stack:
        for folder in sorted({folder for folder, _ in places}):
            stack.enter_context(RunLock(folder, stage=stage))
        found = existing_checkpoints(places)
        if found and not (resume or overwrite):
            where = ", ".join(sorted({os.path.dirname(p) for p in found}))
            raise UserInputError(
                f"{where} already has {stage} checkpoints ({_names(found)}); continue them with "
                "--resume, or start over with --overwrite (removes them first)"
            )
        if found and overwrite:
            for path in found:
                os.remove(path)
            print(f"--overwrite: removed {len(found)} {stage} checkpoint files", flush=True)
        yield found


def _checkpoint_callbacks(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    callbacks = spec.get("callbacks")
    if not isinstance(callbacks, (list, tuple)):
        return []
    return [c for c in callbacks if isinstance(c, Mapping) and _is_checkpoint(c.get("type"))]


def _is_checkpoint(type_: Any) -> bool:
    name = type_ if isinstance(type_, str) else getattr(type_, "__name__", "")
    return name == "Checkpoint"


def _names(paths: list[str]) -> str:
    names = [os.path.basename(p) for p in paths]
    if len(names) <= 3:
        return ", ".join(names)
    return ", ".join(names[:3]) + f", ... {len(names)} in all"
