"""pyproject.toml declares what `hat` imports, the pinned requirements lock those ranges, and
every console script points at an existing function."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # the `test` extra installs tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _requirements(specs: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(s) for s in specs]
    return {canonicalize_name(r.name): r for r in reqs}


def _pins(path: Path) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` lines of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path.name}: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = version
    return pins


def _third_party_imports() -> dict[str, str]:
    """Top-level module of every absolute import in hat/**/*.py that is neither stdlib nor
    hat -> one file importing it."""
    found = {}
    for path in sorted((ROOT / "hat").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "hat" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


DEPENDENCIES = _requirements(PROJECT["dependencies"])


def test_every_third_party_import_of_hat_is_a_declared_dependency():
    imports = _third_party_imports()
    assert {"torch", "numpy", "cv2", "lmdb"} <= set(imports)  # the scan sees the package
    dists = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in imports.items():
        names = {canonicalize_name(d) for d in dists.get(module, [])}
        assert names, f"{module} (imported by {where}) is not installed"
        if not names & set(DEPENDENCIES):
            undeclared[module] = (where, sorted(names))
    assert not undeclared, f"imported by hat but not in [project] dependencies: {undeclared}"


def test_requirements_txt_is_the_lock_of_the_declared_ranges():
    pins = _pins(ROOT / "requirements.txt")
    assert set(pins) == set(DEPENDENCIES)
    for name, version in pins.items():
        req = DEPENDENCIES[name]
        assert req.specifier.contains(version), f"{name}=={version} outside {req.specifier}"
        lower = [s.version for s in req.specifier if s.operator == ">="]
        assert lower == [version], f"{name}: lower bound {lower} is not the pin {version}"
        assert any(s.operator == "<" for s in req.specifier), f"{name}: no upper bound"


@pytest.mark.parametrize("extra", ["dev", "test"])
def test_requirements_dev_txt_locks_the_extras(extra):
    pins = _pins(ROOT / "requirements-dev.txt")
    extras = _requirements(PROJECT["optional-dependencies"][extra])
    for name, req in extras.items():
        if req.marker is not None and not req.marker.evaluate():
            continue  # e.g. tomli on Python < 3.11
        assert name in pins, f"extra {extra!r}: {name} has no pin in requirements-dev.txt"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} outside {req}"
    assert {"pytest", "cityscapesscripts"} <= set(extras)


def test_console_scripts_point_at_existing_functions():
    scripts = PROJECT["scripts"]
    for name, target in scripts.items():
        module_name, _, func_name = target.partition(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, func_name, None)), f"{name} = {target!r}"
    # every dataset packer ships a command
    packers = {p.stem for p in (ROOT / "hat" / "tools").glob("*_packer.py")}
    targets = {t.partition(":")[0].rsplit(".", 1)[-1] for t in scripts.values()}
    assert packers and packers <= targets, sorted(packers - targets)
    assert scripts["hat-pack-cityscapes"] == "hat.tools.cityscapes_packer:main"
