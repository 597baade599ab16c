"""The resolved configs against snapshots of an earlier version of them.

Write the reference snapshots from the version to compare against (outside the repository)::

    python tests/configs/config_snapshot.py /tmp/config_snapshots

then, after changing the configs, run this test with ``HAT_CONFIG_SNAPSHOTS=/tmp/config_snapshots``.
Every top-level value present in both versions must be identical (after
:mod:`config_snapshot`'s normalisation), and so must the sharing of containers between them;
names only one version has are reported. Differences that were made on purpose are listed in
:data:`INTENDED` (config, key, reason). Without ``HAT_CONFIG_SNAPSHOTS`` the test is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from config_snapshot import CONFIGS, STAGES, load, snapshot, snapshot_name

SNAPSHOT_DIR = os.environ.get("HAT_CONFIG_SNAPSHOTS")

# (config path or "*", top-level key, why it differs from the snapshot). "*" = every config.
INTENDED: list[tuple[str, str, str]] = []


def _intended(config: str) -> dict[str, str]:
    return {key: why for where, key, why in INTENDED if where in ("*", config)}


def _shared_groups(groups: list[list[str]], keys: set[str]) -> set[tuple[str, ...]]:
    """Sharing restricted to paths under ``keys`` (groups of one path say nothing)."""
    out = set()
    for group in groups:
        kept = tuple(sorted(p for p in group if _top_key(p) in keys))
        if len(kept) > 1:
            out.add(kept)
    return out


def _top_key(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def compare(old: dict, new: dict, intended: dict[str, str]) -> list[str]:
    """Human-readable differences between two snapshots, ignoring ``intended`` keys."""
    problems = []
    old_keys, new_keys = set(old["values"]), set(new["values"])
    for key in sorted(old_keys - new_keys - set(intended)):
        problems.append(f"missing key {key!r}")
    for key in sorted(new_keys - old_keys - set(intended)):
        problems.append(f"new key {key!r}")
    common = (old_keys & new_keys) - set(intended)
    for key in sorted(common):
        if old["values"][key] != new["values"][key]:
            a = json.dumps(old["values"][key], sort_keys=True)
            b = json.dumps(new["values"][key], sort_keys=True)
            i = next((n for n, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(f"{key} differs near ...{a[max(0, i - 80):i + 80]}... vs "
                            f"...{b[max(0, i - 80):i + 80]}...")  # fmt: skip
    before = _shared_groups(old["shared"], common)
    after = _shared_groups(new["shared"], common)
    for group in sorted(before - after):
        problems.append(f"no longer one shared object: {list(group)}")
    for group in sorted(after - before):
        problems.append(f"now one shared object: {list(group)}")
    return problems


CASES = [(c, s) for c in CONFIGS for s in STAGES]


@pytest.mark.skipif(not SNAPSHOT_DIR, reason="set HAT_CONFIG_SNAPSHOTS to a snapshot folder")
@pytest.mark.parametrize(("config", "stage"), CASES, ids=[f"{c}@{s}" for c, s in CASES])
def test_resolved_config_matches_snapshot(config: str, stage: str) -> None:
    reference = Path(SNAPSHOT_DIR) / snapshot_name(config, stage)
    assert reference.is_file(), f"no snapshot {reference}"
    old = json.loads(reference.read_text())
    new = json.loads(json.dumps(snapshot(load(config, stage)), sort_keys=True))
    problems = compare(old, new, _intended(config))
    assert not problems, f"{config} at {stage}:\n" + "\n".join(problems)


def test_compare_reports_value_and_sharing_changes() -> None:
    shared = {"a": 1}
    before = snapshot({"x": {"p": shared, "q": shared}, "y": 2})
    after = snapshot({"x": {"p": {"a": 1}, "q": {"a": 1}}, "y": 3, "z": 0})
    problems = compare(before, after, {})
    assert "new key 'z'" in problems
    assert any(p.startswith("y differs") for p in problems)
    assert any(p.startswith("x differs") for p in problems)  # the $ref became a copy
    assert any(p.startswith("no longer one shared object") for p in problems)
    assert compare(before, before, {}) == []
    assert compare(before, after, {"x": "", "y": "", "z": ""}) == []
