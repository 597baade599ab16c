"""One flat object registry and a recursive, memoising builder.

Every buildable component (model, dataset, transform, callback, metric, trainer, ...) registers
itself with ``@OBJECT_REGISTRY.register``. Configs describe objects as ``dict(type=..., **kwargs)``
where ``type`` is a registered name or any class/callable. :func:`build_from_registry` builds a
config tree bottom-up; the same dict object referenced twice becomes one shared instance.

Errors name the config path of the failing node, suggest close names for unknown types and
report the ImportError of any ``hat`` module that failed to import.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "OBJECT_REGISTRY",
    "Registry",
    "BuildError",
    "build_from_registry",
    "LAZY_BUILD_KEY",
]

# A dict holding ``__lazy_build__=True`` is handed to its parent unbuilt (the parent builds it).
LAZY_BUILD_KEY = "__lazy_build__"
# A dict holding ``__build_recursive__=False`` is built, but its own arguments are passed raw.
NO_RECURSE_KEY = "__build_recursive__"


class BuildError(Exception):
    """A config node could not be built; the message names its config path."""


class Registry:
    """A flat name -> object mapping with decorator registration and aliases."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._objects: dict[str, Any] = {}
        self._import_errors: dict[str, str] = {}
        self._scanned = False
        self._lock = threading.Lock()
        self._build_hooks: list[tuple[type, Callable[..., Any], frozenset[str]]] = []

    def register(self, obj: Any = None, *, name: str | None = None, force: bool = False) -> Any:
        """Register ``obj`` under ``name`` (default ``obj.__name__``); usable as a decorator."""

        def _do(o: Any) -> Any:
            key = name or o.__name__
            self._add(key, o, force)
            return o

        if obj is None:
            return _do
        return _do(obj)

    def alias(self, name: str, force: bool = False) -> Callable[[Any], Any]:
        """Decorator registering an extra name for an object (e.g. a trainer alias)."""

        def _do(o: Any) -> Any:
            self._add(name, o, force)
            return o

        return _do

    def _add(self, key: str, obj: Any, force: bool) -> None:
        old = self._objects.get(key)
        if old is not None and old is not obj and not force:
            same_origin = (
                getattr(old, "__module__", None) == getattr(obj, "__module__", None)
                and getattr(old, "__qualname__", None) == getattr(obj, "__qualname__", None)
            )
            if not same_origin:
                raise KeyError(
                    f"'{key}' is already registered in {self.name} by "
                    f"{getattr(old, '__module__', '?')}.{getattr(old, '__qualname__', '?')}"
                )
        self._objects[key] = obj

    def register_build_hook(
        self, base: type, hook: Callable[..., Any], lazy_keys: Iterable[str] = ()
    ) -> None:
        """Build subclasses of ``base`` with ``hook(target, **kwargs)``, not ``target(**kwargs)``.

        Used for objects that need late arguments: optimizers (built once the model exists) and
        data loaders (the dataset is injected into the sampler). The values of ``lazy_keys`` are
        handed to the hook unbuilt (e.g. the data loader's ``sampler`` dict, which cannot be built
        before the dataset exists); a hook builds them itself with :func:`build_from_registry`,
        and a :class:`BuildError` it raises is prefixed with the node's config path.
        """
        self._build_hooks.append((base, hook, frozenset(lazy_keys)))

    def build_hook_for(self, target: Any) -> Callable[..., Any] | None:
        """The hook registered for ``target``'s class family, if any (latest registration wins)."""
        found = self._hook_entry(target)
        return None if found is None else found[1]

    def lazy_keys_for(self, target: Any) -> frozenset[str]:
        """Keyword arguments of ``target`` that its build hook wants unbuilt."""
        found = self._hook_entry(target)
        return frozenset() if found is None else found[2]

    def _hook_entry(self, target: Any) -> tuple[type, Callable[..., Any], frozenset[str]] | None:
        if not isinstance(target, type):
            return None
        for entry in reversed(self._build_hooks):
            if issubclass(target, entry[0]):
                return entry
        return None

    def __contains__(self, key: str) -> bool:
        if key in self._objects:
            return True
        self.import_all()
        return key in self._objects

    def keys(self) -> Iterable[str]:
        self.import_all()
        return sorted(self._objects)

    def get(self, key: str) -> Any:
        """Return the object registered as ``key`` or raise a KeyError that explains why not."""
        if key in self._objects:
            return self._objects[key]
        self.import_all()
        if key in self._objects:
            return self._objects[key]
        if "." in key:  # a dotted import path such as "torch.optim.SGD"
            module_name, _, attr = key.rpartition(".")
            try:
                return getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError):
                pass
        raise KeyError(self._unknown_message(key))

    def _unknown_message(self, key: str) -> str:
        msg = f"'{key}' is not registered in {self.name}."
        close = difflib.get_close_matches(key, list(self._objects), n=3, cutoff=0.6)
        if close:
            msg += " Did you mean: " + ", ".join(repr(c) for c in close) + "?"
        if self._import_errors:
            msg += "\nThese modules failed to import, so what they register is missing:"
            for mod, err in sorted(self._import_errors.items()):
                msg += f"\n  {mod}: {err}"
        return msg

    def import_all(self, package: str = "hat") -> None:
        """Import every module of ``package`` once, recording import failures by module name."""
        with self._lock:
            if self._scanned:
                return
            self._scanned = True
        pkg = importlib.import_module(package)
        infos = pkgutil.walk_packages(pkg.__path__, prefix=package + ".", onerror=self._on_error)
        for info in infos:
            if info.name.startswith(f"{package}.tools"):
                continue
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # noqa: BLE001 - recorded and shown to the user later
                last = traceback.format_exception_only(type(exc), exc)[-1].strip()
                self._import_errors[info.name] = last

    def _on_error(self, name: str) -> None:
        self._import_errors[name] = "package failed to import"


OBJECT_REGISTRY = Registry("OBJECT_REGISTRY")


def _resolve_type(type_: Any, path: str) -> Any:
    if isinstance(type_, str):
        try:
            return OBJECT_REGISTRY.get(type_)
        except KeyError as exc:
            raise BuildError(f"{path}: {exc.args[0]}") from None
    if callable(type_):
        return type_
    raise BuildError(f"{path}: 'type' must be a registered name or a callable, got {type_!r}")


def _type_name(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)


class _BuildContext:
    """Memo of built objects keyed by the id of their config dict (one build call)."""

    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}
        self.keep_alive: list[Any] = []


def _build(cfg: Any, path: str, ctx: _BuildContext) -> Any:
    if isinstance(cfg, dict):
        if id(cfg) in ctx.memo:
            return ctx.memo[id(cfg)]
        if cfg.get(LAZY_BUILD_KEY, False):
            out = {k: v for k, v in cfg.items() if k != LAZY_BUILD_KEY}
            ctx.memo[id(cfg)] = out
            ctx.keep_alive.append(cfg)
            return out
        if "type" in cfg:
            obj = _build_node(cfg, path, ctx)
        else:
            obj = {k: _build(v, f"{path}.{k}" if path else str(k), ctx) for k, v in cfg.items()}
        ctx.memo[id(cfg)] = obj
        ctx.keep_alive.append(cfg)
        return obj
    if isinstance(cfg, list):
        return [_build(v, f"{path}[{i}]", ctx) for i, v in enumerate(cfg)]
    if isinstance(cfg, tuple):
        return tuple(_build(v, f"{path}[{i}]", ctx) for i, v in enumerate(cfg))
    return cfg


def _build_node(cfg: dict, path: str, ctx: _BuildContext) -> Any:
    target = _resolve_type(cfg["type"], path + ".type" if path else "type")
    recurse = cfg.get(NO_RECURSE_KEY, True)
    lazy_keys = OBJECT_REGISTRY.lazy_keys_for(target)
    kwargs = {}
    for key, value in cfg.items():
        if key in ("type", NO_RECURSE_KEY):
            continue
        sub = f"{path}.{key}" if path else key
        kwargs[key] = _build(value, sub, ctx) if recurse and key not in lazy_keys else value
    hook = OBJECT_REGISTRY.build_hook_for(target)
    try:
        if hook is not None:
            return hook(target, **kwargs)
        return target(**kwargs)
    except BuildError as exc:
        # Raised by a build nested inside the hook/constructor: its path is relative to this node.
        raise BuildError(_join_path(path, str(exc))) from None
    except TypeError as exc:
        where = f"{path or '<root>'}: {_type_name(target)}"
        if _is_signature_error(exc):
            raise BuildError(f"{where}() {_strip_name(exc)}") from None
        raise BuildError(f"{where}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        where = f"{path or '<root>'}: {_type_name(target)}"
        raise BuildError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _join_path(path: str, message: str) -> str:
    """Prefix a nested build error with this node's path unless it already carries it."""
    if not path or message.startswith(path):
        return message
    if message.startswith("<root>: "):
        return f"{path}: {message[len('<root>: '):]}"
    return f"{path}.{message}"


def _is_signature_error(exc: TypeError) -> bool:
    text = str(exc)
    markers = ("unexpected keyword", "required positional", "missing", "positional argument")
    return any(s in text for s in markers)


def _strip_name(exc: TypeError) -> str:
    """``Foo.__init__() got an unexpected keyword argument 'x'`` -> ``got an unexpected ...``."""
    text = str(exc)
    if "() " in text:
        return text.split("() ", 1)[1]
    return text


def build_from_registry(cfg: Any, path: str = "") -> Any:
    """Recursively build ``cfg`` bottom-up.

    Dicts with ``type`` become objects; other dicts, lists and tuples are rebuilt element-wise;
    anything else is returned as is. A dict object appearing twice is built once and shared.
    ``path`` prefixes error messages (e.g. ``"float_trainer"``).
    """
    OBJECT_REGISTRY.import_all()
    return _build(cfg, path, _BuildContext())


def build_many(cfgs: dict[str, Any]) -> dict[str, Any]:
    """Build several named configs in one context so that shared dicts stay shared across them."""
    OBJECT_REGISTRY.import_all()
    ctx = _BuildContext()
    return {name: _build(cfg, name, ctx) for name, cfg in cfgs.items()}
