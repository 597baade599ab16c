"""``--opts key value ...``: parse, locate, type-check and apply command-line overrides.

* keys are dotted paths; integer parts index lists/tuples
  (``data_loader.dataset.transforms.0.size``);
* values go through ``ast.literal_eval``; what does not parse stays a plain string;
* the new value must fit the current one: same type, int -> float, list <-> tuple (converted to
  the current container type), anything replaces ``None``, a string for a ``type`` key, and a
  string current value takes the text as typed (``--opts name 123`` gives ``"123"``);
* unknown keys are errors naming the closest existing keys.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Override", "ConfigError", "parse_opts", "locate", "coerce_value", "set_path"]


class ConfigError(Exception):
    """A config file or a command-line override is invalid; the message says which and why."""


@dataclass
class Override:
    """One ``--opts`` pair: ``key`` (dotted), the text as typed and the parsed value."""

    key: str
    raw: str
    value: Any

    @property
    def parts(self) -> list[str]:
        return self.key.split(".")

    @property
    def is_top_level(self) -> bool:
        return "." not in self.key


def parse_opts(opts: Sequence[str] | None) -> list[Override]:
    """``["a.b", "1", "c", "'x'"]`` -> overrides; an odd count is an error."""
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(
            f"--opts expects 'key value' pairs, got {len(opts)} items; "
            f"'{opts[-1]}' has no value"
        )
    return [Override(k, v, _parse_value(v)) for k, v in zip(opts[0::2], opts[1::2])]


def _parse_value(raw: str) -> Any:
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw


def locate(cfg: Mapping[str, Any], key: str) -> tuple[Any, Any, Any]:
    """``(parent container, index/key, current value)`` of dotted ``key``; errors explain misses."""
    parts = key.split(".")
    node: Any = cfg
    walked: list[str] = []
    for part in parts:
        where = ".".join(walked) or "the config"
        if isinstance(node, Mapping):
            if part not in node:
                raise ConfigError(_unknown_key(key, part, where, [str(k) for k in node]))
            parent, index = node, part
        elif isinstance(node, (list, tuple)):
            if not _is_int(part):
                raise ConfigError(
                    f"--opts {key}: '{where}' is a {type(node).__name__}; "
                    f"use an integer index instead of '{part}'"
                )
            index = int(part)
            if not -len(node) <= index < len(node):
                raise ConfigError(
                    f"--opts {key}: index {index} is out of range for '{where}' "
                    f"(length {len(node)})"
                )
            parent = node
        else:
            raise ConfigError(
                f"--opts {key}: '{where}' holds a {type(node).__name__} ({node!r}), "
                f"which has no field '{part}'"
            )
        node = parent[index]
        walked.append(part)
    return parent, index, node


def _unknown_key(key: str, part: str, where: str, choices: list[str]) -> str:
    public = [c for c in choices if not c.startswith("_")]
    close = difflib.get_close_matches(part, public, n=3, cutoff=0.5)
    msg = f"--opts {key}: unknown key '{part}' in {where}."
    if close:
        msg += " Did you mean: " + ", ".join(repr(c) for c in close) + "?"
    else:
        shown = ", ".join(sorted(public)[:20]) + (" ..." if len(public) > 20 else "")
        msg += f" Available: {shown}"
    return msg


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def coerce_value(key: str, old: Any, new: Any, raw: str) -> Any:
    """``new`` converted to fit ``old`` (see module docstring) or a :class:`ConfigError`."""
    if old is None:
        return new
    if key.rpartition(".")[2] == "type" and (isinstance(new, str) or callable(new)):
        return new
    if isinstance(old, str):
        return new if isinstance(new, str) else raw
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
    elif isinstance(old, float):
        if isinstance(new, (int, float)) and not isinstance(new, bool):
            return float(new)
    elif isinstance(old, int):
        if isinstance(new, int) and not isinstance(new, bool):
            return new
    elif isinstance(old, (list, tuple)):
        if isinstance(new, (list, tuple)):
            return type(old)(new) if type(old) in (list, tuple) else new
    elif isinstance(old, dict):
        if isinstance(new, dict):
            return new
    elif isinstance(new, type(old)):
        return new
    if not _is_literal(old):
        raise ConfigError(
            f"--opts {key}: the current value is a {type(old).__name__} ({_short(old)}), which "
            "cannot be replaced from the command line; edit the config file instead"
        )
    raise ConfigError(
        f"--opts {key}: expected {type(old).__name__} like the current value {_short(old)}, "
        f"got {type(new).__name__} {_short(new)}"
    )


def _is_literal(value: Any) -> bool:
    if isinstance(value, (str, bytes, int, float, complex, bool, type(None))):
        return True
    if isinstance(value, (list, tuple, set)):
        return all(_is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(_is_literal(k) and _is_literal(v) for k, v in value.items())
    return False


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def set_path(cfg: Any, key: str, value: Any) -> None:
    """Set dotted ``key`` to ``value``; tuples on the way are rebuilt (they are immutable)."""
    parts = key.split(".")
    chain: list[tuple[Any, Any]] = []
    node = cfg
    for part in parts[:-1]:
        index: Any = int(part) if isinstance(node, (list, tuple)) else part
        chain.append((node, index))
        node = node[index]
    last: Any = int(parts[-1]) if isinstance(node, (list, tuple)) else parts[-1]
    while True:
        if isinstance(node, tuple):
            items = list(node)
            items[last] = value
            value = type(node)(items)
            if not chain:
                raise ConfigError(f"--opts {key}: cannot replace an item of a top-level tuple")
            node, last = chain.pop()
            continue
        node[last] = value
        return
