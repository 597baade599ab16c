"""Checkpoint files: atomic ``torch.save``, verified ``weights_only`` loading, weight loading.

A checkpoint is a dict of tensors, containers and primitives only (see
:mod:`hat.engine.train_state` for the schema), so it always loads with
``torch.load(path, weights_only=True)``: no pickled code runs when a file is opened.

Integrity: ``torch.save`` writes a zip archive in which every record (the pickle, each tensor
storage) carries a CRC-32 of its bytes, but ``torch.load`` does not check them. Every load here
(:func:`load_checkpoint`, hence :func:`load_model_weights`) first verifies all CRCs
(:func:`verify_checkpoint_file`), so a bit flip on disk or in a copy is an error naming the file
and the record instead of silently wrong weights. A file in torch's legacy (non-zip) format has
no checksum: it loads with a warning. Write failures (read-only folder, disk full) raise
:class:`CheckpointWriteError` naming the final path and the cause; the previous file is kept.

:func:`load_model_weights` is *the* way a model gets weights from a file (tools, the
``LoadCheckpoint`` converter, analysis code): explicit strictness (``allow_missing``,
``allow_unexpected``), explicit prefix handling (``strip_prefix``, DDP's ``module.`` by default)
and errors that name the file and summarise the keys that do not match.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hat.utils.file_io import FileWriteError, atomic_write

__all__ = [
    "save_checkpoint",
    "serialize_checkpoint",
    "write_checkpoint_bytes",
    "load_checkpoint",
    "verify_checkpoint_file",
    "checkpoint_path",
    "model_state_from",
    "load_model_weights",
    "load_state_into",
    "WeightsReport",
    "summarise_keys",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointReadError",
    "CheckpointCorruptError",
    "CheckpointWriteError",
    "CheckpointMismatchError",
    "CheckpointShapeError",
]

DDP_PREFIX = "module."
_ZIP_MAGIC = b"PK\x03\x04"

logger = logging.getLogger(__name__)


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable or lacks an expected entry."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No file at the checkpoint path."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CheckpointReadError(CheckpointError, RuntimeError):
    """The file exists but is not a readable checkpoint (corrupt, truncated, holds code)."""


class CheckpointCorruptError(CheckpointReadError):
    """The file's bytes do not match the checksums written with it (bit flip, bad copy)."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (read-only folder, disk full); the previous file is
    unchanged. The message names the final path and the cause."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CheckpointMismatchError(CheckpointError, KeyError):
    """The weights do not fit the model (missing/unexpected keys or different shapes)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointShapeError(CheckpointMismatchError, RuntimeError):
    """Tensors of the checkpoint and the model have different shapes."""


def checkpoint_path(save_dir: str, name_prefix: str, kind: str) -> str:
    """``{save_dir}/{name_prefix}checkpoint-{kind}.pth.tar`` (kind: last, best, epoch-0003)."""
    return os.path.join(save_dir, f"{name_prefix}checkpoint-{kind}.pth.tar")


def serialize_checkpoint(state: dict[str, Any]) -> bytes:
    """The bytes of ``torch.save(state)`` (a zip archive with a CRC-32 per record)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def write_checkpoint_bytes(payload: bytes, path: str) -> None:
    """Write serialized checkpoint bytes to ``path`` atomically (old file kept on failure)."""
    try:
        atomic_write(path, lambda f: f.write(payload))
    except FileWriteError as exc:
        kept = "; the previous file is unchanged" if os.path.exists(path) else ""
        reason = exc.cause.strerror or str(exc.cause)
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {reason}{kept}") from None


def save_checkpoint(state: dict[str, Any], path: str) -> None:
    """Write ``state`` to ``path`` atomically (the old file survives any failure)."""
    write_checkpoint_bytes(serialize_checkpoint(state), path)


def verify_checkpoint_file(path: str) -> bool:
    """Check every record of the checkpoint zip against its CRC-32.

    Returns True when verified, False for a file without checksums (torch's legacy format, or
    CRCs switched off at save time), which is logged as a warning. Raises
    :class:`CheckpointCorruptError` naming the file and the first bad record.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise CheckpointReadError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    if magic != _ZIP_MAGIC:
        logger.warning("%s has no checksum (not a zip checkpoint): loading it unverified", path)
        return False
    unchecked = []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.CRC == 0 and info.file_size > 0:  # written with CRC-32 turned off
                    unchecked.append(info.filename)
                    continue
                with archive.open(info) as record:  # raises BadZipFile on a CRC mismatch
                    while record.read(1 << 22):
                        pass
    except Exception as exc:  # noqa: BLE001 - any damage of the archive: re-raised, named
        reason = f"{type(exc).__name__}: {_first_line(str(exc))}"
        if "CRC" in reason:
            reason += " (the file changed after it was written: disk or copy error)"
        raise CheckpointCorruptError(f"checkpoint {path} is corrupt: {reason}") from None
    if unchecked:
        logger.warning(
            "%s: %d records have no checksum (saved with CRC-32 turned off): loaded unverified",
            path,
            len(unchecked),
        )
        return False
    return True


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`: checksums verified
    (:func:`verify_checkpoint_file`), then ``torch.load(weights_only=True)``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    verify_checkpoint_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        reason = f"{type(exc).__name__}: {_first_line(str(exc))}"
        raise CheckpointReadError(f"cannot load checkpoint {path}: {reason}") from exc
    if not isinstance(state, dict):
        raise CheckpointReadError(f"{path} holds a {type(state).__name__}, expected a dict")
    return state


def model_state_from(
    state: Mapping[str, Any], path: str = "<checkpoint>", key: str = "state_dict"
) -> dict[str, Any]:
    """The model weights of a checkpoint (the ``key`` entry, or the dict itself if bare)."""
    if key in state and isinstance(state[key], Mapping):
        return dict(state[key])
    if state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return dict(state)
    raise CheckpointError(f"{path} has no '{key}' entry (keys: {sorted(state)[:12]})")


@dataclass
class WeightsReport:
    """What :func:`load_state_into` did: tensors loaded, keys accepted as missing/unexpected."""

    path: str
    loaded: int
    missing_keys: list[str]
    unexpected_keys: list[str]
    stripped_prefix: str | None


def load_model_weights(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    allow_missing: bool = False,
    allow_unexpected: bool = False,
    strip_prefix: str | None = DDP_PREFIX,
    state_dict_key: str = "state_dict",
) -> WeightsReport:
    """Load the weights of checkpoint ``path`` into ``model`` (``weights_only=True``, on CPU).

    Args:
        allow_missing: accept model keys the checkpoint lacks (e.g. fake-quant buffers when a
            float checkpoint goes into a QAT model); otherwise they are an error.
        allow_unexpected: accept checkpoint keys the model does not have.
        strip_prefix: removed from the checkpoint keys when *every* key starts with it (a
            checkpoint of a DDP-wrapped model); ``None`` keeps the keys as they are.
        state_dict_key: the checkpoint entry holding the weights (a bare state dict works too).

    Raises :class:`CheckpointNotFoundError`, :class:`CheckpointReadError` (corrupt file),
    :class:`CheckpointError` (no weights entry) or :class:`CheckpointMismatchError`, each naming
    the file.
    """
    path = os.fspath(path)
    state = model_state_from(load_checkpoint(path), path, state_dict_key)
    return load_state_into(
        model,
        state,
        path,
        allow_missing=allow_missing,
        allow_unexpected=allow_unexpected,
        strip_prefix=strip_prefix,
    )


def load_state_into(
    model: nn.Module,
    state_dict: Mapping[str, Any],
    path: str = "<checkpoint>",
    *,
    allow_missing: bool = False,
    allow_unexpected: bool = False,
    strip_prefix: str | None = DDP_PREFIX,
) -> WeightsReport:
    """:func:`load_model_weights` for a state dict already in memory (``path`` names it)."""
    state, stripped = _strip_prefix(dict(state_dict), strip_prefix)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches survive strict=False
        raise CheckpointShapeError(
            f"{path} does not fit the model: {_shape_errors(str(exc))}"
        ) from exc
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    problems = []
    if missing and not allow_missing:
        problems.append(
            f"{len(missing)} model keys missing from the checkpoint ({summarise_keys(missing)}; "
            "allow_missing=True accepts them)"
        )
    if unexpected and not allow_unexpected:
        problems.append(
            f"{len(unexpected)} unexpected keys in the checkpoint ({summarise_keys(unexpected)}; "
            "allow_unexpected=True accepts them)"
        )
    if problems:
        raise CheckpointMismatchError(f"{path} does not fit the model: " + "; ".join(problems))
    return WeightsReport(path, len(state), missing, unexpected, stripped)


def summarise_keys(keys: Sequence[str], n: int = 5) -> str:
    """``"a.w, b.w, ... (+7 more)"`` (and the common last component when all share one)."""
    keys = list(keys)
    if not keys:
        return "none"
    shown = ", ".join(keys[:n])
    more = f" ... (+{len(keys) - n} more)" if len(keys) > n else ""
    suffixes = {k.rsplit(".", 1)[-1] for k in keys}
    if len(keys) > n and len(suffixes) == 1:
        more += f"; all end in '.{suffixes.pop()}'"
    return shown + more


def _strip_prefix(state: dict[str, Any], prefix: str | None) -> tuple[dict[str, Any], str | None]:
    if prefix and state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}, prefix
    return state, None


_SIZE_MISMATCH = re.compile(
    r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[[^\]]*\])\) from "
    r"checkpoint, the shape in current model is torch\.Size\((\[[^\]]*\])\)"
)


def _shape_errors(text: str, n: int = 3) -> str:
    found = _SIZE_MISMATCH.findall(text)
    if not found:
        return _first_line(text)
    shown = "; ".join(f"{k}: checkpoint {a} vs model {b}" for k, a, b in found[:n])
    more = f" (+{len(found) - n} more)" if len(found) > n else ""
    return f"{len(found)} tensors differ in shape ({shown}{more})"


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
