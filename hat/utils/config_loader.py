"""Execute config files as fresh Python modules, with path-based imports between configs.

A config file runs in its own module object (never cached in a way that a second load could
see). Imports inside a config are resolved like this:

* relative imports (``from .base import *``, ``from ..common import schedule``) load the file
  by path relative to the importing config; no ``__init__.py`` is needed;
* an absolute import whose first name is a ``.py`` file or folder next to the importing config
  (``from pwcnet_base import *``) loads that sibling by path too;
* everything else is a normal Python import. Modules that a config pulls in through a
  *namespace* package (a folder without ``__init__.py`` on ``sys.path``, e.g.
  ``import configs.opticalflow_pred.pwcnet.base``) are dropped from ``sys.modules`` afterwards,
  so the next load re-executes them instead of seeing a stale copy.

Every config file loaded by path is executed once per :class:`ConfigLoader` (diamond imports
share one module). **Pinning**: a loader created with ``pins={"name": value}`` rewrites every
module-level statement that binds ``name`` in every config file it loads so that ``name`` is
re-set to ``value`` right after it; values computed from ``name`` later in any config file (in
the base config as well as in the one importing it) therefore follow the pinned value. This is
how a top-level ``--opts`` override re-derives dependent values.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import os
import sys
import types
from typing import Any

__all__ = ["ConfigLoader", "PINS_NAME"]

PINS_NAME = "__hat_pins__"


class ConfigLoader:
    """Loads config files by path; see the module docstring for import and pinning rules."""

    def __init__(self, pins: dict[str, Any] | None = None) -> None:
        self.pins = dict(pins or {})
        self.modules: dict[str, types.ModuleType] = {}  # absolute path -> module
        self.sources: dict[str, str] = {}  # absolute path -> text, in load order
        self.pinned_names_found: set[str] = set()  # pins that matched at least one binding
        self._builtins = dict(builtins.__dict__, __import__=self._import)

    def load(self, path: str) -> types.ModuleType:
        """Execute the config file at ``path`` (once per loader) and return its module."""
        path = os.path.abspath(path)
        if path in self.modules:
            return self.modules[path]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        module = types.ModuleType(_module_name(path))
        module.__file__ = path
        module.__dict__["__builtins__"] = self._builtins
        module.__dict__[PINS_NAME] = self.pins
        self.modules[path] = module
        self.sources[path] = text
        tree = ast.parse(text, filename=path)
        if self.pins:
            tree = self._pin(tree)
        code = compile(tree, path, "exec")
        sys.modules[module.__name__] = module  # lets pickle find functions defined in configs
        before = set(sys.modules)
        try:
            exec(code, module.__dict__)
        finally:
            self._forget_namespace_modules(set(sys.modules) - before)
        return module

    # ------------------------------------------------------------------ imports
    def _import(
        self,
        name: str,
        globals: dict[str, Any] | None = None,  # noqa: A002 - mirrors builtins.__import__
        locals: dict[str, Any] | None = None,  # noqa: A002
        fromlist: tuple[str, ...] | list[str] | None = (),
        level: int = 0,
    ) -> Any:
        importer = (globals or {}).get("__file__")
        if importer and (globals or {}).get(PINS_NAME) is self.pins:
            base = os.path.dirname(importer)
            if level > 0:
                for _ in range(level - 1):
                    base = os.path.dirname(base)
                return self._import_by_path(base, name, fromlist or (), importer)
            first = name.partition(".")[0]
            if first and _path_of(base, first, allow_packages=False) is not None:
                return self._import_by_path(base, name, fromlist or (), importer)
        return builtins.__import__(name, globals, locals, fromlist or (), level)

    def _import_by_path(self, base: str, name: str, fromlist: Any, importer: str) -> Any:
        parts = name.split(".") if name else []
        top = current = self._directory_module(base)
        for i, part in enumerate(parts):
            current = self._child(current, part, importer, ".".join(parts[: i + 1]))
            if i == 0:
                top = current
        for item in fromlist:
            if item != "*" and not hasattr(current, item):
                child_dir = getattr(current, "__path__", [None])[0]
                if child_dir and _path_of(child_dir, item) is not None:
                    self._child(current, item, importer, item)
        return current if (fromlist or not parts) else top

    def _child(self, parent: types.ModuleType, part: str, importer: str, shown: str) -> Any:
        directory = getattr(parent, "__path__", [None])[0]
        if directory is None:
            raise ImportError(f"{importer}: cannot import '{shown}': {parent.__name__} is a file")
        target = _path_of(directory, part)
        if target is None:
            raise ImportError(
                f"{importer}: cannot import '{shown}': neither {os.path.join(directory, part)}.py "
                "nor a folder of that name exists"
            )
        if os.path.isdir(target):
            init = os.path.join(target, "__init__.py")
            child = self.load(init) if os.path.isfile(init) else self._directory_module(target)
            child.__path__ = [target]  # type: ignore[attr-defined]
        else:
            child = self.load(target)
        setattr(parent, part, child)
        return child

    def _directory_module(self, directory: str) -> types.ModuleType:
        module = types.ModuleType(_module_name(directory))
        module.__path__ = [directory]  # type: ignore[attr-defined]
        return module

    @staticmethod
    def _forget_namespace_modules(new_names: set[str]) -> None:
        """Drop project modules imported through namespace packages (config folders)."""
        doomed = []
        for name in new_names:
            if name.startswith("_hat_config_"):
                continue
            top = sys.modules.get(name.partition(".")[0])
            is_namespace = top is not None and getattr(top, "__file__", None) is None
            file = getattr(sys.modules.get(name), "__file__", None) or ""
            installed = "site-packages" in file or "dist-packages" in file
            if is_namespace and hasattr(top, "__path__") and not installed:
                doomed.append(name)
        for name in doomed:
            sys.modules.pop(name, None)

    # ------------------------------------------------------------------ pinning
    def _pin(self, tree: ast.Module) -> ast.Module:
        tree.body = self._pin_block(tree.body)
        return ast.fix_missing_locations(tree)

    def _pin_block(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            for field in ("body", "orelse", "finalbody"):
                block = getattr(stmt, field, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    setattr(stmt, field, self._pin_block(block))
            for handler in getattr(stmt, "handlers", []) or []:
                handler.body = self._pin_block(handler.body)
            out.append(stmt)
            for name in self.pins:
                if _binds(stmt, name):
                    self.pinned_names_found.add(name)
                    out.append(_pin_statement(name))
        return out


def _pin_statement(name: str) -> ast.stmt:
    """``name = __hat_pins__["name"]``."""
    return ast.parse(f"{name} = {PINS_NAME}[{name!r}]").body[0]


def _binds(stmt: ast.stmt, name: str) -> bool:
    """Whether ``stmt`` binds ``name`` in module scope (star imports count as binding)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return stmt.name == name
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return any(
            a.name == "*" or (a.asname or a.name.partition(".")[0]) == name for a in stmt.names
        )
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                continue
            if isinstance(child, ast.stmt) and child is not stmt:
                continue  # nested blocks are visited by _pin_block itself
            stack.append(child)
    return False


def _path_of(directory: str, name: str, allow_packages: bool = True) -> str | None:
    """``directory/name.py`` or the folder ``directory/name``, whichever exists.

    With ``allow_packages=False`` a folder holding ``__init__.py`` (a real Python package such as
    ``hat``) does not count, so absolute imports of installed packages stay normal imports.
    """
    file = os.path.join(directory, name + ".py")
    if os.path.isfile(file):
        return file
    folder = os.path.join(directory, name)
    if os.path.isdir(folder) and not name.startswith((".", "_")):
        if allow_packages or not os.path.isfile(os.path.join(folder, "__init__.py")):
            return folder
    return None


def _module_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0] or "config"
    stem = "".join(c if c.isalnum() else "_" for c in stem)
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    return f"_hat_config_{stem}_{digest}"
