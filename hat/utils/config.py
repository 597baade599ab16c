"""Python config files, ``--opts`` overrides and re-derivation of dependent values.

**Configs** are plain Python files. :meth:`Config.fromfile` executes one as a fresh module (see
:mod:`hat.utils.config_loader` for how ``from .base_config import *`` and sibling imports are
resolved by path) and keeps its public, non-module module-level names (``model``,
``data_loader``, ``float_trainer``, ``ckpt_dir``, ...). Values are kept as written (plain dicts,
shared objects stay shared) so the registry sees what the file built. ``HAT_TRAINING_STEP`` is
read by configs at execution time; the tools set it *before* loading.

**Overrides** (``--opts key value ...``, see :mod:`hat.utils.config_overrides` for parsing and
type rules):

* A *dotted* key (``float_trainer.optimizer.lr 0.01``) changes that one value in place.
* A *top-level* key (``batch_size_per_gpu 2``) is a value other values are often computed from
  (``data_loader = dict(batch_size=batch_size_per_gpu)``). The config is executed again with
  that name *pinned*: every assignment to it, in the config and in any config it imports, is
  followed by ``name = <override>``, so every value derived from it afterwards follows the
  override. The values that changed because of it are reported
  (``Config.derived_changes``) and logged. If a name is never assigned in a config file loaded
  by path (e.g. it comes from a normal Python package), it is set directly and a warning says
  that values derived from it did not follow.
* Top-level overrides are applied first (one re-execution), then dotted ones in order.

The resolved config (after overrides) is available as readable Python text via
:meth:`Config.pretty_text`; :attr:`Config.source_text` holds the original file(s).
"""

from __future__ import annotations

import logging
import os
import re
import types
from collections.abc import Mapping, Sequence
from typing import Any

from hat.utils.config_dump import format_config
from hat.utils.config_loader import ConfigLoader
from hat.utils.config_overrides import (
    ConfigError,
    Override,
    coerce_value,
    locate,
    parse_opts,
    set_path,
)
from hat.utils.distributed import get_rank

__all__ = ["Config", "ConfigError", "load_config"]

logger = logging.getLogger(__name__)


class Config(dict):
    """The public names of a config module, with attribute access (``cfg.float_trainer``)."""

    filename: str
    sources: dict[str, str]
    overrides: list[Override]
    derived_changes: dict[str, tuple[Any, Any]]

    def __init__(self, values: Mapping[str, Any] | None = None, filename: str = "") -> None:
        super().__init__(values or {})
        object.__setattr__(self, "filename", filename)
        object.__setattr__(self, "sources", {})
        object.__setattr__(self, "overrides", [])
        object.__setattr__(self, "derived_changes", {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config {self.filename or ''} has no '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    @classmethod
    def fromfile(cls, path: str, opts: Sequence[str] | None = None) -> Config:
        """Load ``path`` and apply ``opts`` (``["key", "value", ...]``); see module docstring."""
        return load_config(path, opts)

    @property
    def source_text(self) -> str:
        """The original config file(s), each preceded by a ``# ==== path ====`` line."""
        return "\n".join(f"# ==== {p} ====\n{t}" for p, t in self.sources.items())

    def pretty_text(self) -> str:
        """The resolved config as readable Python (for humans and checkpoints, not re-loading)."""
        header = [f"# Resolved config of {self.filename}"]
        if self.overrides:
            header.append("# --opts " + " ".join(f"{o.key} {o.raw}" for o in self.overrides))
        for key, (old, new) in self.derived_changes.items():
            header.append(f"# re-derived: {key}: {old!r} -> {new!r}")
        header.append(
            "# Non-literal values are shown by dotted name or repr; read it, do not load it."
        )
        return "\n".join(header) + "\n\n" + format_config(self)


def load_config(path: str, opts: Sequence[str] | None = None) -> Config:
    """Execute the config at ``path``, apply ``opts`` and return the :class:`Config`."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    overrides = parse_opts(opts)
    cfg = _execute(path, pins={})
    top = [o for o in overrides if o.is_top_level]
    if top:
        pins = {}
        for o in top:
            _, _, old = locate(cfg, o.key)
            pins[o.key] = coerce_value(o.key, old, o.value, o.raw)
        cfg = _rederive(path, cfg, pins)
    for o in overrides:
        if not o.is_top_level:
            _, _, old = locate(cfg, o.key)
            set_path(cfg, o.key, coerce_value(o.key, old, o.value, o.raw))
    cfg.overrides.extend(overrides)
    return cfg


def _execute(path: str, pins: dict[str, Any]) -> Config:
    loader = ConfigLoader(pins)
    try:
        module = loader.load(path)
    except ConfigError:
        raise
    except SyntaxError as exc:
        raise ConfigError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from exc
    except Exception as exc:
        raise ConfigError(_execution_error(path, exc)) from exc
    values = {
        k: v
        for k, v in vars(module).items()
        if not k.startswith("_") and not isinstance(v, types.ModuleType)
    }
    cfg = Config(values, filename=path)
    cfg.sources.update(loader.sources)
    object.__setattr__(cfg, "_pins_found", loader.pinned_names_found)
    return cfg


def _execution_error(path: str, exc: BaseException) -> str:
    """``file:line: ExcType: message`` pointing at the innermost config-file frame."""
    where = path
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".py") and tb.tb_frame.f_globals.get("__name__", "").startswith(
            "_hat_config_"
        ):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"error while executing config {where}: {type(exc).__name__}: {exc}"


def _rederive(path: str, original: Config, pins: dict[str, Any]) -> Config:
    """Re-execute with ``pins`` and record which other values followed them."""
    shown = ", ".join(f"{k}={v!r}" for k, v in pins.items())
    try:
        cfg = _execute(path, pins)
    except ConfigError as exc:
        raise ConfigError(f"--opts {shown}: {exc}") from exc
    found = getattr(cfg, "_pins_found", set())
    for name, value in pins.items():
        if name not in found or cfg.get(name) is not value:
            logger.warning(
                "--opts %s: '%s' is not assigned in a config file loaded by path, so values "
                "derived from it keep their old values; only '%s' itself was changed",
                name,
                name,
                name,
            )
            cfg[name] = value
    before, after = _flatten(original), _flatten(cfg)
    changes = {
        key: (before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if key.split(".")[0] not in pins and not _same(before.get(key), after.get(key))
    }
    cfg.derived_changes.update(changes)
    if changes and get_rank() == 0:
        lines = "\n".join(f"  {k}: {_short(o)} -> {_short(n)}" for k, (o, n) in changes.items())
        logger.warning(
            "--opts %s re-executed the config; these derived values followed:\n%s", shown, lines
        )
    return cfg


def _flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None, seen=None) -> dict:
    """``{"a.b.0": leaf}`` for nested dicts/lists/tuples (each container visited once per path)."""
    out = {} if out is None else out
    seen = set() if seen is None else seen
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            return out
        seen = seen | {id(value)}
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, seen)
        if not value and prefix:
            out[prefix] = value
        return out
    out[prefix] = value
    return out


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _comparable(value: Any) -> Any:
    """A stand-in that is equal across two executions of the same config text."""
    if isinstance(value, (int, float, str, bool, bytes, type(None))):
        return value
    if callable(value) and hasattr(value, "__qualname__"):  # classes and functions
        return ("callable", getattr(value, "__module__", None), value.__qualname__)
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # tensors/arrays: values may be
        return ("array", type(value).__name__, tuple(value.shape), str(value.dtype))  # random
    return ("repr", _ADDRESS.sub("", repr(value)))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(_comparable(a) == _comparable(b))
    except Exception:  # noqa: BLE001 - objects with exotic __eq__: compare their text
        return repr(a) == repr(b)


def _short(value: Any, limit: int = 80) -> str:
    text = _ADDRESS.sub("", repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."
