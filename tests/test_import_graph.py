"""The import structure of ``hat``: no import cycles where a layering is intended, and every
module importable on its own.

The graphs are built from the source (``import``/``from`` statements, parsed with ``ast``), so a
cycle is found even when the current import order happens to hide it:

* between modules of ``hat.quantization``: every import counts, top-level or deferred inside a
  function (a deferred import that closes a cycle still couples the two modules both ways);
* between the packages ``hat.engine`` and ``hat.callbacks``: top-level imports (the engine may
  build default callbacks with a deferred import; callbacks build on the engine's protocol).

Then each ``hat.*`` module is imported first in an interpreter where no ``hat`` module is loaded
yet (one forked child per module; the parent only pre-imports torch and numpy).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "hat"


def hat_modules() -> dict[str, Path]:
    """``{dotted module name: source file}`` of every module and package under ``hat/``."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(tree: ast.Module, deferred: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements at module level (including ``if``/``try`` blocks there); with
    ``deferred`` also those inside functions and classes. ``if TYPE_CHECKING:`` blocks never
    count (they do not run)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif _is_type_checking_block(node):
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if deferred:
                    visit(node.body)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.AST)])

    visit(tree.body)
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` lies in (a name imported from a module resolves
    to that module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_modules(module: str, modules: dict[str, Path], deferred: bool) -> set[str]:
    """The ``hat`` modules that ``module``'s import statements name."""
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in _import_nodes(tree, deferred):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import name``: the submodule ``pkg.name`` if there is one, else ``pkg``
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            if target == "hat" or target.startswith("hat."):
                resolved = _resolve(target, modules)
                if resolved and resolved != module:
                    found.add(resolved)
    return found


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def _describe(cycles: list[list[str]], graph: dict[str, set[str]]) -> str:
    lines = []
    for component in cycles:
        members = set(component)
        edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
        lines.append("cycle: " + "; ".join(edges))
    return "\n".join(lines)


def test_find_cycles_on_known_graphs():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b"], ["c", "d"]]


def test_imported_modules_reads_top_level_and_deferred_imports(tmp_path):
    pkg = tmp_path / "hat"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/__init__.py", "sub/b.py", "c.py"):
        (pkg / name).write_text("")
    (pkg / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n"
        "    from hat.c import X\n"
        "def f():\n"
        "    from hat.c import Y\n"
    )
    modules = {
        "hat": pkg / "__init__.py",
        "hat.sub": pkg / "sub" / "__init__.py",
        "hat.sub.a": pkg / "sub" / "a.py",
        "hat.sub.b": pkg / "sub" / "b.py",
        "hat.c": pkg / "c.py",
    }
    assert imported_modules("hat.sub.a", modules, deferred=False) == {"hat.sub.b"}
    assert imported_modules("hat.sub.a", modules, deferred=True) == {"hat.sub.b", "hat.c"}


def test_no_import_cycle_inside_hat_quantization():
    modules = hat_modules()
    names = [m for m in modules if m == "hat.quantization" or m.startswith("hat.quantization.")]
    assert "hat.quantization.qtensor" in names
    graph = {
        m: {d for d in imported_modules(m, modules, deferred=True) if d in names} for m in names
    }
    cycles = find_cycles(graph)
    assert not cycles, _describe(cycles, graph)


def test_no_import_cycle_between_engine_and_callbacks():
    modules = hat_modules()
    packages = ("hat.engine", "hat.callbacks")

    def package_of(module: str) -> str | None:
        return next((p for p in packages if module == p or module.startswith(p + ".")), None)

    graph: dict[str, set[str]] = {p: set() for p in packages}
    witnesses: dict[tuple[str, str], str] = {}
    for module in modules:
        src = package_of(module)
        if src is None:
            continue
        for dep in imported_modules(module, modules, deferred=False):
            dst = package_of(dep)
            if dst is not None and dst != src:
                graph[src].add(dst)
                witnesses.setdefault((src, dst), f"{module} imports {dep}")
    assert not find_cycles(graph), (
        f"{witnesses.get(('hat.engine', 'hat.callbacks'))}; "
        f"{witnesses.get(('hat.callbacks', 'hat.engine'))}"
    )


_IMPORT_EACH = r"""
import importlib, json, os, sys, traceback
import numpy, torch  # shared by nearly every module; everything else loads in the child
assert not any(m == "hat" or m.startswith("hat.") for m in sys.modules)
workers, names = int(sys.argv[1]), sys.argv[2:]
running, failures = {}, {}

def reap():
    pid, status = os.wait()
    name, read = running.pop(pid)
    with os.fdopen(read, "rb") as f:
        message = f.read().decode(errors="replace")
    if status != 0:
        failures[name] = message or f"exit status {status}"

for name in names:
    if len(running) >= workers:
        reap()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 0
        try:
            importlib.import_module(name)
        except BaseException:
            os.write(write, traceback.format_exc(limit=-3).encode()[-2000:])
            code = 1
        os.close(write)
        os._exit(code)
    os.close(write)
    running[pid] = (name, read)
while running:
    reap()
print(json.dumps(failures))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="forks one child per module")
def test_every_hat_module_imports_first():
    modules = sorted(hat_modules())
    assert len(modules) > 100
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, "2", *modules],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{name}:\n{msg}" for name, msg in failures.items())
