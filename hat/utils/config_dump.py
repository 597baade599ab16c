"""Readable Python text of a resolved config (``{stage}-config.py`` and checkpoint ``config``).

Dicts with identifier keys print as ``dict(key=value, ...)``; classes and functions print as
their dotted names; a value that is the very object bound to an earlier top-level name prints as
that name (so ``float_trainer = dict(model=model, ...)`` shows the sharing); other objects print
as ``repr``. The text is meant to be read and diffed; it is not guaranteed to re-load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["format_config", "format_value"]

_INDENT = "    "
_WIDTH = 100
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def format_config(cfg: Mapping[str, Any]) -> str:
    """``name = value`` lines for every top-level entry, in definition order."""
    names: dict[int, str] = {}
    lines = []
    for name, value in cfg.items():
        if _is_function(value) or isinstance(value, type):
            if getattr(value, "__module__", "").startswith("_hat_config_"):
                lines.append(f"# {name}: {type(value).__name__} defined in the config source")
                continue
        lines.append(f"{name} = {format_value(value, names, 0, root=True)}")
        if isinstance(value, (dict, list)) and id(value) not in names:
            names[id(value)] = name
    return "\n".join(lines) + "\n"


def format_value(value: Any, names: dict[int, str], depth: int = 0, root: bool = False) -> str:
    """One value as Python-like text; ``names`` maps ids of shared containers to their names."""
    if not root and id(value) in names:
        return names[id(value)]
    if isinstance(value, dict):
        return _format_dict(value, names, depth)
    if isinstance(value, (list, tuple)):
        return _format_sequence(value, names, depth)
    if isinstance(value, type) or _is_function(value):
        module = getattr(value, "__module__", "") or ""
        if module.startswith("_hat_config_") or module == "builtins":
            return value.__qualname__
        return f"{module}.{value.__qualname__}"
    return _ADDRESS.sub("", repr(value))


def _is_function(value: Any) -> bool:
    return callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__code__")


def _format_dict(value: dict, names: dict[int, str], depth: int) -> str:
    if not value:
        return "dict()" if type(value) is dict else "{}"
    as_kwargs = all(isinstance(k, str) and k.isidentifier() for k in value)
    items = [
        (f"{k}=" if as_kwargs else f"{k!r}: ") + format_value(v, names, depth + 1)
        for k, v in value.items()
    ]
    opening, closing = ("dict(", ")") if as_kwargs else ("{", "}")
    return _wrap(opening, items, closing, depth)


def _format_sequence(value: list | tuple, names: dict[int, str], depth: int) -> str:
    items = [format_value(v, names, depth + 1) for v in value]
    if isinstance(value, tuple):
        if len(items) == 1:
            return f"({items[0]},)"
        return _wrap("(", items, ")", depth)
    return _wrap("[", items, "]", depth)


def _wrap(opening: str, items: list[str], closing: str, depth: int) -> str:
    flat = opening + ", ".join(items) + closing
    if len(flat) + len(_INDENT) * depth <= _WIDTH and "\n" not in flat:
        return flat
    inner = _INDENT * (depth + 1)
    body = "".join(f"{inner}{item},\n" for item in items)
    return f"{opening}\n{body}{_INDENT * depth}{closing}"
